#!/usr/bin/env python3
"""The main job's summary table: one row per matrix and scenario (and per
sweep point), from every run's run.json (the ground truth) and report.json
(the analyzer's answer). Written by scripts/lab-main-job.sh into
OUT/summary.md; the README's results table is this file.

    python3 scripts/lab-results-table.py results/lab > results/lab/summary.md
"""

import json
import statistics
import sys
from pathlib import Path


def ms(ns):
    return ns / 1e6


def fmt(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def runs_of(group_dir):
    by_scenario = {}
    for run_json in sorted(group_dir.glob("*/run-*/run.json")):
        run = run_json.parent
        report = run / "report.json"
        if not report.is_file():
            continue
        info = json.loads(run_json.read_text())
        rep = json.loads(report.read_text())
        by_scenario.setdefault(info.get("scenario", run.parent.name), []).append((info, rep))
    return by_scenario


def row(name, scenario, runs):
    truths, lowers, uppers, failed, tails = [], [], [], [], 0
    with_fail = 0
    for info, rep in runs:
        t = info.get("ground_truth") or {}
        outs = t.get("outages") or []
        truths.append(sum(ms(o["end_ns"] - o["start_ns"]) for o in outs))
        m = rep["merged"]
        failed.append(m["totals"]["failed"])
        with_fail += m["totals"]["failed"] > 0
        # The race's window: the one that holds the true outage's start (the
        # conntrack tail's windows come after it).
        race = [w for w in m["windows"] if outs and w["first_fail_ns"] <= outs[0]["end_ns"]]
        lowers.append(sum(ms(w["lower_ns"]) for w in race))
        uppers.append(sum(ms(w["upper_ns"] or 0) for w in race))
        held = (t.get("conntrack_held") or {}).get("by_state", {}).get("SYN_SENT", 0)
        tails += held > 0 and len(m["windows"]) > len(race)
    n = len(runs)
    if max(truths) == 0:
        truth = "none"
        analyzer = "0" if max(failed) == 0 else f"{max(failed)} failed"
    else:
        truth = f"{fmt(statistics.median(truths))} ({fmt(min(truths))}-{fmt(max(truths))})"
        analyzer = f"{fmt(statistics.median(lowers))} .. {fmt(statistics.median(uppers))}"
    return (
        f"| {name} | {scenario} | {with_fail}/{n} | {min(failed)}-{max(failed)} "
        f"| {truth} | {analyzer} | {tails}/{n} |"
    )


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "results/lab")
    print("| matrix | scenario | runs with failures | failed probes a run "
          "| true outage, ms: median (range) | analyzer's race window, ms: median lower .. upper "
          "| runs with a conntrack tail |")
    print("|---|---|---|---|---|---|---|")
    groups = sorted(p for p in out.iterdir() if p.is_dir() and p.name.startswith("v"))
    groups += sorted(p for p in (out / "sweep").glob("*") if p.is_dir())
    for g in groups:
        name = g.name if g.parent == out else f"sweep {g.name}"
        for scenario, runs in sorted(runs_of(g).items()):
            print(row(name, scenario, runs))


if __name__ == "__main__":
    main()
