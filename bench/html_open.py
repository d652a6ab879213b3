#!/usr/bin/env python3
"""How long `report.html` of a large run takes to open and draw.

Makes a synthetic run (`seamless-analyzer gen-synthetic`, 10 million probes
by default) once, writes its report, and then, in headless Chromium, loads
report.html from disk and waits until the chart has drawn (the page sets
body[data-drawn]); prints the file's size, the points drawn, and the time
from start to drawn, against a bare page's time in the same run (the cost
of starting Chromium itself), 3 times each.

    cargo build --release -p seamless-analyzer
    python3 bench/html_open.py [--probes 10000000]

Needs Debian's `chromium`. Exit status 1 when the best load takes more than
2 s beyond the bare page.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def chromium_dom(chrome, url):
    """Loads url headless; returns (seconds until the DOM was dumped, body tag)."""
    with tempfile.TemporaryDirectory() as profile:
        start = time.monotonic()
        out = subprocess.run(
            [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={profile}", "--window-size=1400,900", "--dump-dom", url],
            capture_output=True, text=True, check=True,
        )
        wall = time.monotonic() - start
    body = re.search(r"<body[^>]*>", out.stdout)
    return wall, body.group(0) if body else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--analyzer", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "seamless-analyzer"))
    args = ap.parse_args()
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chrome:
        sys.exit("html_open: no chromium on PATH (apt-get install chromium)")
    run = f"/tmp/seamless-bench-{args.probes}"
    if not os.path.isdir(run):
        subprocess.run([args.analyzer, "gen-synthetic", "--probes", str(args.probes), "--out", run],
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run([args.analyzer, "report", run, "--no-plot"], check=True, stdout=subprocess.DEVNULL)
    page = os.path.join(run, "report.html")
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as bare:
        bare.write("<!DOCTYPE html><html><body data-drawn=\"bare\"></body></html>")
    size = os.path.getsize(page)
    print(f"report.html of {args.probes:,} probes: {size / 2**20:.2f} MiB")
    best = {}
    for name, url in [("bare page", f"file://{bare.name}"), ("report.html", f"file://{page}")]:
        times = []
        for _ in range(args.runs):
            wall, body = chromium_dom(chrome, url)
            if "data-drawn" not in body or "data-errors" in body:
                sys.exit(f"html_open: {name} did not draw: {body}")
            times.append(wall)
        best[name] = min(times)
        print(f"{name:12} load to drawn: best {best[name]:.2f} s (runs: "
              + ", ".join(f"{t:.2f}" for t in times) + f"); {body}")
    os.unlink(bare.name)
    extra = best["report.html"] - best["bare page"]
    print(f"report.html beyond a bare page: {extra:.2f} s (bar: 2 s)")
    sys.exit(0 if extra <= 2.0 else 1)


if __name__ == "__main__":
    main()
