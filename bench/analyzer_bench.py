#!/usr/bin/env python3
"""Time `seamless-analyzer report` (plots included) on a synthetic run.

Writes a synthetic run with `seamless-analyzer gen-synthetic` once (10 million
probes by default, a few failure windows), then runs `report` on it several
times and prints the wall time and the peak resident set size of each run,
measured with wait4(2) on the child, so no /usr/bin/time is needed.

    cargo build --release -p seamless-analyzer
    python3 bench/analyzer_bench.py                      # 10M probes, 3 runs
    python3 bench/analyzer_bench.py --probes 100000000   # 100M, one agent
    python3 bench/analyzer_bench.py --agents 10          # 10 agents x 10M

With --agents N the run has N logs of --probes each (seeds 1..N), as a
DaemonSet of agents gives, analysed alone and merged.

With --peer BIN a second analyzer (an older build, say) runs on the same
run in the same session, turn about with this one, and both are printed
side by side; the bar applies to this one.

Exit status 1 when the best run misses the bar (3 s wall, 1.5 GiB peak RSS).
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "seamless-analyzer")


def run_measured(argv):
    """Runs argv; returns (exit status, wall seconds, peak RSS in bytes)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    # ru_maxrss is in KiB on Linux.
    return os.waitstatus_to_exitcode(status), wall, usage.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=default_binary(), help="the analyzer binary")
    ap.add_argument("--probes", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="run directory (default /tmp/seamless-bench-<probes>)")
    ap.add_argument("--agents", type=int, default=1, help="logs in the run, --probes each")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-wall", type=float, default=3.0, help="bar for wall seconds")
    ap.add_argument("--max-rss-gib", type=float, default=1.5, help="bar for peak RSS, GiB")
    ap.add_argument("--peer", default=None, help="a second analyzer binary, measured side by side")
    args, extra = ap.parse_known_args()

    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} not found: cargo build --release -p seamless-analyzer (or --bin)")
    suffix = f"{args.probes}" if args.agents == 1 else f"{args.agents}x{args.probes}"
    run_dir = args.dir or f"/tmp/seamless-bench-{suffix}"
    if args.agents == 1:
        logs = [os.path.join(run_dir, "probe-synthetic.log")]
    else:
        logs = [os.path.join(run_dir, f"probe-agent-{k:02}.log") for k in range(1, args.agents + 1)]
    for k, log in enumerate(logs, start=1):
        if os.path.exists(log):
            continue
        out = run_dir if args.agents == 1 else f"{run_dir}.gen-{k:02}"
        argv = [args.bin, "gen-synthetic", "--probes", str(args.probes), "--seed", str(k), "--out", out]
        code, wall, _ = run_measured(argv)
        if code != 0:
            sys.exit(f"gen-synthetic failed ({code})")
        if args.agents > 1:
            # One run: the first agent's timeline and run.json, every log.
            os.makedirs(run_dir, exist_ok=True)
            os.replace(os.path.join(out, "probe-synthetic.log"), log)
            for name in ("timeline.jsonl", "run.json"):
                if k == 1:
                    os.replace(os.path.join(out, name), os.path.join(run_dir, name))
            for name in os.listdir(out):
                os.remove(os.path.join(out, name))
            os.rmdir(out)
        print(f"generated {args.probes} probes in {wall:.2f} s: {log} "
              f"({os.path.getsize(log) / 2**20:.0f} MiB)")

    bins = [("this", args.bin)] + ([("peer", args.peer)] if args.peer else [])
    best = {}
    for name, binary in bins:
        print(f"{name}:", " ".join([binary, "report", run_dir] + extra))
    for i in range(args.runs):
        for name, binary in bins:
            code, wall, rss = run_measured([binary, "report", run_dir] + extra)
            if code != 0:
                sys.exit(f"{name}: report failed with status {code}")
            print(f"run {i + 1} {name}: wall {wall:.3f} s, peak RSS {rss / 2**20:.0f} MiB")
            if name not in best or wall < best[name][0]:
                best[name] = (wall, rss)
    if args.peer:
        print(f"\n| {suffix} probes | wall (best of {args.runs}) | peak RSS |")
        print("|---|---|---|")
        for name, _ in bins:
            w, r = best[name]
            print(f"| {name} | {w:.2f} s | {r / 2**20:,.0f} MiB |")
        print()
    wall, rss = best["this"]
    ok = wall <= args.max_wall and rss <= args.max_rss_gib * 2**30
    print(f"best: wall {wall:.3f} s (bar {args.max_wall} s), peak RSS {rss / 2**20:.0f} MiB "
          f"(bar {args.max_rss_gib} GiB): {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
