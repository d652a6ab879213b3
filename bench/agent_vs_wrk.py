#!/usr/bin/env python3
"""Side-by-side benchmark: seamless-agent vs wrk, new connections and reused.

Starts its own nginx (1 worker, `return 200`, keep-alive without a request
limit) on 127.0.0.1, then for each thread count runs, in turn:

- new connection per request: wrk `-H 'Connection: close'` and
  seamless-agent `--concurrency C`;
- keep-alive (the reuse column): plain wrk (HTTP/1.1 keep-alive, C
  connections) and seamless-agent `--mode reuse --concurrency C --pool C`;

and prints completed requests per second, client CPU time per completed
request (user + sys, from wait4) and the client's peak RSS. Usage:

    python3 bench/agent_vs_wrk.py [--agent target/release/seamless-agent]
        [--duration 10] [--connections 64] [--threads 1 2] [--rounds 1]
        [--only new|reuse]
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000000;
  keepalive_timeout 75s;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def own_nginx():
    """Starts nginx (1 worker, `return 200`) on a free 127.0.0.1 port with a
    config of its own; yields (url, temp dir); stops it by its PID."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=tmp, port=port))
        nginx = subprocess.Popen(["nginx", "-c", conf, "-e", os.path.join(tmp, "error.log")])
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/", tmp
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


def proc_status_kib(pid, key):
    """A /proc/PID/status field in KiB (VmHWM, VmRSS), or None once gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def vm_hwm_kib(pid):
    """The process's peak RSS so far, KiB, or 0 once it is gone."""
    return proc_status_kib(pid, "VmHWM") or 0


def run_measured(cmd):
    """Runs cmd; returns (stdout, stderr, cpu seconds, peak RSS KiB, wall s).

    CPU comes from wait4 (this child alone). Peak RSS is VmHWM sampled every
    50 ms while the child runs: ru_maxrss would count the pages the child
    shared with this Python process between fork and exec.
    """
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], vm_hwm_kib(proc.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    out = proc.stdout.read()
    err = proc.stderr.read()
    peak[0] = max(peak[0], vm_hwm_kib(proc.pid))
    _, status, ru = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return out.decode(), err.decode(), ru.ru_utime + ru.ru_stime, peak[0], wall


def wrk(url, threads, conns, secs, keep_alive=False):
    close = [] if keep_alive else ["-H", "Connection: close"]
    out, _, cpu, rss, _ = run_measured(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", *close, url]
    )
    done = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    ok = done - (int(non2xx.group(1)) if non2xx else 0)
    return {"done": done, "ok": ok, "cpu": cpu, "rss_kib": rss, "secs": secs,
            "errors": errors.group(1) if errors else "none"}


def agent(binary, url, threads, conns, secs, tmp, reuse=False):
    log = os.path.join(tmp, f"probe-{threads}.log")
    mode = ["--mode", "reuse", "--pool", str(conns)] if reuse else []
    out, _, cpu, rss, _ = run_measured(
        [binary, "probe", url, "--threads", str(threads), "--concurrency", str(conns),
         *mode, "--duration", f"{secs}s", "--json", "--force", "--out", log]
    )
    s = json.loads(out)
    size = os.path.getsize(log)
    return {"done": s["probes"], "ok": s["ok"], "cpu": cpu, "rss_kib": rss,
            "secs": s["elapsed_s"], "errors": s["by_outcome"],
            "bytes_per_probe": size / max(s["probes"], 1)}


def row(name, r):
    rate = r["done"] / r["secs"]
    us = r["cpu"] / max(r["done"], 1) * 1e6
    extra = f"  {r['bytes_per_probe']:.1f} B/probe on disk" if "bytes_per_probe" in r else ""
    print(f"  {name:<16} {rate:>10.0f}/s  ok {r['ok']:>8}  cpu {us:6.1f} us/req  "
          f"rss {r['rss_kib'] / 1024:6.1f} MiB{extra}")
    return rate, us


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent", default="target/release/seamless-agent")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", choices=["new", "reuse"], help="one column only")
    a = ap.parse_args()
    for tool in ("nginx", "wrk", a.agent):
        if not shutil.which(tool) and not os.path.exists(tool):
            sys.exit(f"missing {tool}: apt-get install nginx-light wrk; cargo build --release -p seamless-agent")
    with own_nginx() as (url, tmp):
        print(f"nginx 1 worker on {url}; {a.duration} s per run, -c{a.connections}")
        columns = [c for c in ("new", "reuse") if a.only in (None, c)]
        for rnd in range(a.rounds):
            for t in a.threads:
                for col in columns:
                    reuse = col == "reuse"
                    what = "keep-alive (reuse)" if reuse else "new connection per request"
                    print(f"threads {t} (round {rnd + 1}), {what}:")
                    w = wrk(url, t, a.connections, a.duration, keep_alive=reuse)
                    time.sleep(1)
                    g = agent(a.agent, url, t, a.connections, a.duration, tmp, reuse=reuse)
                    time.sleep(1)
                    wr, wu = row("wrk", w)
                    gr, gu = row("seamless-agent", g)
                    print(f"  agent/wrk: rate x{gr / wr:.2f}, cpu/req x{gu / wu:.2f}; "
                          f"wrk socket errors: {w['errors']}; agent outcomes: {g['errors']}")


if __name__ == "__main__":
    main()
