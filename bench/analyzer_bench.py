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
    python3 bench/analyzer_bench.py --suite --peer OLD   # all three, one table

With --agents N the run has N logs of --probes each (seeds 1..N), as a
DaemonSet of agents gives, analysed alone and merged.

With --peer BIN a second analyzer (an older build, say) runs on the same
run in the same session, turn about with this one, and both are printed
side by side; the bar applies to this one.

With --suite the three cases above run one after the other (the runs
are generated in /tmp once, about 2.4 GB each for the two large ones) and
one table gives them all.

The bar: peak RSS 1.5 GiB, and wall time 10 s per 100 million probes (3 s
at least): 3 s for 10M, 10 s for 100M, 100 s for a billion. Exit status 1
when the best run of any case misses it.
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


def generate(binary, run_dir, agents, probes):
    """Writes the synthetic run (agents logs of probes each) unless there."""
    if agents == 1:
        logs = [os.path.join(run_dir, "probe-synthetic.log")]
    else:
        logs = [os.path.join(run_dir, f"probe-agent-{k:02}.log") for k in range(1, agents + 1)]
    for k, log in enumerate(logs, start=1):
        if os.path.exists(log):
            continue
        out = run_dir if agents == 1 else f"{run_dir}.gen-{k:02}"
        argv = [binary, "gen-synthetic", "--probes", str(probes), "--seed", str(k), "--out", out]
        code, wall, _ = run_measured(argv)
        if code != 0:
            sys.exit(f"gen-synthetic failed ({code})")
        if agents > 1:
            # One run: the first agent's timeline and run.json, every log.
            os.makedirs(run_dir, exist_ok=True)
            os.replace(os.path.join(out, "probe-synthetic.log"), log)
            for name in ("timeline.jsonl", "run.json"):
                if k == 1:
                    os.replace(os.path.join(out, name), os.path.join(run_dir, name))
            for name in os.listdir(out):
                os.remove(os.path.join(out, name))
            os.rmdir(out)
        print(f"generated {probes} probes in {wall:.2f} s: {log} "
              f"({os.path.getsize(log) / 2**20:.0f} MiB)")


def measure(bins, run_dir, runs, extra):
    """Best (wall, RSS) of each binary over runs, turn about."""
    for name, binary in bins:
        print(f"{name}:", " ".join([binary, "report", run_dir] + extra))
    best = {}
    for i in range(runs):
        for name, binary in bins:
            code, wall, rss = run_measured([binary, "report", run_dir] + extra)
            if code != 0:
                sys.exit(f"{name}: report failed with status {code}")
            print(f"run {i + 1} {name}: wall {wall:.3f} s, peak RSS {rss / 2**20:.0f} MiB")
            if name not in best or wall < best[name][0]:
                best[name] = (wall, rss)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=default_binary(), help="the analyzer binary")
    ap.add_argument("--probes", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="run directory (default /tmp/seamless-bench-<probes>)")
    ap.add_argument("--agents", type=int, default=1, help="logs in the run, --probes each")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--suite", action="store_true", help="10M, 100M and 10 x 10M, one table")
    ap.add_argument("--max-wall", type=float, default=None,
                    help="bar for wall seconds (default 10 s per 100M probes, 3 s at least)")
    ap.add_argument("--max-rss-gib", type=float, default=1.5, help="bar for peak RSS, GiB")
    ap.add_argument("--peer", default=None, help="a second analyzer binary, measured side by side")
    args, extra = ap.parse_known_args()

    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} not found: cargo build --release -p seamless-analyzer (or --bin)")
    if args.peer and not os.access(args.peer, os.X_OK):
        sys.exit(f"--peer {args.peer} is not an executable")
    if args.suite:
        cases = [(1, 10_000_000), (1, 100_000_000), (10, 10_000_000)]
    else:
        cases = [(args.agents, args.probes)]
    bins = [("this", args.bin)] + ([("peer", args.peer)] if args.peer else [])
    rows = []
    passed = True
    for agents, probes in cases:
        label = f"{probes:,}" if agents == 1 else f"{agents} x {probes:,}"
        suffix = f"{probes}" if agents == 1 else f"{agents}x{probes}"
        run_dir = (args.dir if not args.suite and args.dir else f"/tmp/seamless-bench-{suffix}")
        generate(args.bin, run_dir, agents, probes)
        best = measure(bins, run_dir, args.runs, extra)
        bar = args.max_wall or max(3.0, 10.0 * agents * probes / 100_000_000)
        wall, rss = best["this"]
        ok = wall <= bar and rss <= args.max_rss_gib * 2**30
        passed &= ok
        rows.append((label, best, bar, ok))

    head = "| probes | this: wall | this: peak RSS |"
    rule = "|---|---|---|"
    if args.peer:
        head += " peer: wall | peer: peak RSS |"
        rule += "---|---|"
    print(f"\nbest of {args.runs} runs each\n")
    print(head + " bar |")
    print(rule + "---|")
    for label, best, bar, ok in rows:
        cells = [label]
        for name, _ in bins:
            w, r = best[name]
            cells += [f"{w:.2f} s", f"{r / 2**20:,.0f} MiB"]
        cells.append(f"{bar:.0f} s, {args.max_rss_gib} GiB: {'PASS' if ok else 'FAIL'}")
        print("| " + " | ".join(cells) + " |")
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
