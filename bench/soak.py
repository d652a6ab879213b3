#!/usr/bin/env python3
"""Soak: seamless-agent at a fixed open-loop rate against its own nginx on
127.0.0.1 for a long run, sampling the agent's RSS every 10 s. Prints the
RSS samples, then the agent's summary (outcomes, local errors).

    python3 bench/soak.py [--agent target/release/seamless-agent]
        [--rate 5000] [--minutes 10]
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from agent_vs_wrk import own_nginx, proc_status_kib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default="target/release/seamless-agent")
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--minutes", type=float, default=10)
    a = ap.parse_args()
    with own_nginx() as (url, tmp):
        log = os.path.join(tmp, "soak.log")
        agent = subprocess.Popen(
            [a.agent, "probe", url, "--rate", str(a.rate),
             "--duration", f"{int(a.minutes * 60)}s", "--json", "--out", log],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        start = time.monotonic()
        print(f"soak: {a.rate}/s for {a.minutes} min; RSS every 10 s (KiB):", flush=True)
        samples = []
        while agent.poll() is None:
            time.sleep(10)
            rss = proc_status_kib(agent.pid, "VmRSS")
            if rss is not None:
                samples.append(rss)
                print(f"  t={time.monotonic() - start:6.0f}s  rss={rss}", flush=True)
        summary = json.loads(agent.stdout.read())
        print(f"RSS min {min(samples)} KiB, max {max(samples)} KiB; "
              f"first minute max {max(samples[:6])}, last minute max {max(samples[-6:])}")
        print(f"probes {summary['probes']}, achieved {summary['achieved_rate']:.1f}/s, "
              f"ok {summary['ok']}, failed {summary['failed']}, local errors {summary['local_errors']}, "
              f"outcomes {summary['by_outcome']}")
        print(f"schedule lag p99 {summary['schedule_lag']['p99_ns'] / 1e3:.1f} us, "
              f"max {summary['schedule_lag']['max_ns'] / 1e3:.1f} us; "
              f"log {os.path.getsize(log)} bytes")


if __name__ == "__main__":
    main()
