#!/usr/bin/env python3
"""Issue 13's table: new versus reused connections through the seed's
scenarios, one row per matrix (shutdown fast|graceful, client careful|naive)
and scenario, from every run's run.json (the ground truth, with when the
old backend closed its kept-alive connections) and report.json (the
analyzer's rows `<agent>/new` and `<agent>/reuse`, and the reuse row's
connection facts). Written by scripts/lab-keepalive-job.sh into
OUT/summary.md.

    python3 scripts/lab-keepalive-table.py results/lab-keepalive > results/lab-keepalive/summary.md
"""

import json
import statistics
import sys
from pathlib import Path


def rng(values):
    lo, hi = min(values), max(values)
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def ms(ns):
    return f"{ns / 1e6:+.1f}"


def runs_of(matrix):
    by = {}
    for rj in sorted(matrix.glob("*/run-*/run.json")):
        rep = rj.parent / "report.json"
        if rep.is_file():
            info = json.loads(rj.read_text())
            by.setdefault(info["scenario"], []).append((info, json.loads(rep.read_text())))
    return by


def agent(rep, mode):
    return next(a for a in rep["agents"] if a.get("mode") == mode)


def row(matrix, scenario, runs):
    new_failed, reuse_failed, broken, opening, kept, closed = [], [], [], [], [], []
    kinds = {}
    with_new = with_reuse = sigterms = 0
    for info, rep in runs:
        t = info["ground_truth"]
        n, r = agent(rep, "new"), agent(rep, "reuse")
        nf, rf = n["summary"]["totals"]["failed"], r["summary"]["totals"]["failed"]
        new_failed.append(nf)
        reuse_failed.append(rf)
        with_new += nf > 0
        with_reuse += rf > 0
        c = r["connections"]
        broken.append(c["broken"])
        opening.append(c["failed_opening"])
        for k, v in c["broken_by_kind"].items():
            kinds[k] = kinds.get(k, 0) + v
        conns = t.get("old_backend_conns") or {}
        kept.append(conns.get("open_at_start", 0))
        if conns.get("all_closed_ns") and t.get("old_backend_stopped_ns"):
            closed.append(conns["all_closed_ns"] - t["old_backend_stopped_ns"])
        sigterms += "sigterm_ns" in t
    nruns = len(runs)
    kinds_s = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-"
    closed_s = ms(statistics.median(closed)) if closed else "-"
    return (
        f"| {matrix} | {scenario} | {with_new}/{nruns} | {rng(new_failed)} "
        f"| {with_reuse}/{nruns} | {rng(reuse_failed)} | {rng(broken)} | {kinds_s} "
        f"| {rng(opening)} | {rng(kept)} | {closed_s} | {sigterms}/{nruns} |"
    )


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "results/lab-keepalive")
    print(
        "| matrix (shutdown-client) | scenario | new: runs with failures | new: failed a run "
        "| reuse: runs with failures | reuse: failed a run | broken kept-alive connections a run "
        "| broken, by kind (all runs) | reuse: new connections failing a run "
        "| connections open on the old pod at its deletion | the last of them closed, ms from the listener's close (median) "
        "| runs where kubelet sent SIGTERM |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    order = ["fast-careful", "graceful-careful", "fast-naive", "graceful-naive"]
    matrices = sorted((d for d in out.iterdir() if d.is_dir()), key=lambda d: (order.index(d.name) if d.name in order else 99, d.name))
    for m in matrices:
        for scenario, runs in sorted(runs_of(m).items()):
            print(row(m.name, scenario, runs))


if __name__ == "__main__":
    main()
