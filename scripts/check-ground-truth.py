#!/usr/bin/env python3
"""Checks every analysed lab run against its ground truth.

For each RUN/report.json (written by `seamless-analyzer report`) with the
lab's ground truth in run_info, prints one line and a summary:
  - no-prestop runs: one window; every failure inside the true outage; the
    upper bound's extent (widened by the partial-outage edge uncertainty)
    contains the true outage; lower <= truth <= upper; the observed bound
    width in probe intervals;
  - prestop runs: no outage and no failure.
IN_FLIGHT_MS (default 3) is the slack for a probe's time between its start
stamp and its SYN (see analyzer/tests/lab_ground_truth.rs).

    python3 scripts/check-ground-truth.py results/lab/*/run-*/report.json
"""

import json
import os
import sys

IN_FLIGHT = float(os.environ.get("IN_FLIGHT_MS", "3")) * 1e6


def check(path):
    r = json.load(open(path))
    scen = r.get("scenario") or "?"
    gt = (r.get("run_info") or {}).get("ground_truth") or {}
    s = r["merged"]
    outages = gt.get("outages") or []
    failed = s["totals"]["failed"]
    if not scen.endswith("no-prestop"):
        ok = not outages and failed == 0
        return scen, ok, f"failed {failed}, outages {len(outages)}", None, None
    if len(outages) != 1 or len(s["windows"]) != 1:
        return scen, False, f"{len(outages)} outages, {len(s['windows'])} windows", None, None
    o, w = outages[0], s["windows"][0]
    st, en = o["start_ns"], o["end_ns"]
    truth = en - st
    e = w["edge_uncertainty_ns"]
    iv = s["interval"]["median_ns"]
    before, after, up = w["last_ok_before_ns"], w["first_ok_after_ns"], w["upper_ns"]
    problems = []
    # A request queued at the listener's close fails however long it waited.
    queued = max([IN_FLIGHT] + [l["max_ns"] for l in s["latency"] if l["phase"] == "during"])
    if w["first_fail_ns"] < st - queued or w["last_fail_ns"] > en + IN_FLIGHT:
        problems.append("failure outside the outage")
    strict = before - e <= st and after + e >= en
    # The commit happened between the lab writing COMMIT and seeing it.
    early_en = min(en, gt.get("old_rule_commit_written_ns") or en)
    if before - e - IN_FLIGHT > st or after + e + IN_FLIGHT < early_en:
        problems.append("upper extent misses the outage")
    if up + 2 * IN_FLIGHT < early_en - st or w["lower_ns"] > truth + queued:
        problems.append("truth outside [lower, upper]")
    width = (up - 2 * e - w["lower_ns"]) / iv
    line = (f"truth {truth / 1e6:8.3f} ms in [{w['lower_ns'] / 1e6:8.3f}, {up / 1e6:8.3f}] ms, "
            f"{w['failed']:4d}/{w['total']:4d} failed, width {width:4.1f} iv, "
            f"edge {e / iv:4.1f} iv, contained without slack: {'yes' if strict else 'no'}")
    if problems:
        line += "  <-- " + "; ".join(problems)
    return scen, not problems, line, strict, width


def main():
    rows = [check(p) + (p,) for p in sys.argv[1:]]
    bad = 0
    for scen, ok, line, _, _, path in rows:
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {scen:<28} {os.path.basename(os.path.dirname(path))}  {line}")
    outage = [r for r in rows if r[3] is not None]
    strict = sum(1 for r in outage if r[3])
    widths = sorted(r[4] for r in outage)
    print(f"\n{len(rows)} runs, {bad} failing the checks; of {len(outage)} runs with an outage, "
          f"{strict} contained without slack; observed width median "
          f"{widths[len(widths) // 2] if widths else 0:.1f} intervals, max {widths[-1] if widths else 0:.1f}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
