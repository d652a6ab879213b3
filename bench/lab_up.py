#!/usr/bin/env python3
"""How fast `seamless-lab up` gives a usable cluster, and what it weighs.

    sudo python3 bench/lab_up.py [--bin target/release] [--nodes 2] [--runs 3]
                                 [--kubernetes-version v1.37.2]

Per run: seconds from starting `seamless-lab up` to its `export KUBECONFIG`
line (every node registered and Ready), to a Deployment's first Ready pod
(manifests/workload/overlays/pod-no-prestop applied with the built kubectl),
and the peak memory of the whole lab: the sum of VmRSS over every process
of the lab (the outer process, the sandbox and everything in it: etcd, the
API server, controller-manager, scheduler, kubelets, nginx), sampled every
50 ms. Prints each run and the median against the goals (<= 20 s to
Ready, <= 3 GiB).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def descendants(pid):
    """PIDs of pid and everything under it (by /proc/*/stat parent links)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, False

    def run(self):
        while not self.stop:
            total = sum(rss_kib(p) for p in descendants(self.pid))
            self.peak = max(self.peak, total)
            time.sleep(0.05)


def one_run(args, kubectl):
    with tempfile.TemporaryDirectory() as tmp:
        kc = os.path.join(tmp, "kubeconfig")
        cmd = [os.path.join(args.bin, "seamless-lab"), "up", "--nodes", str(args.nodes),
               "--kubeconfig", kc, "--kubernetes-version", args.kubernetes_version,
               "--agent-bin", os.path.join(args.bin, "seamless-agent")]
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env={**os.environ, "RUST_LOG": "warn"})
        sampler = Sampler(p.pid)
        sampler.start()
        try:
            line = p.stdout.readline()
            if not line.startswith("export KUBECONFIG="):
                sys.exit(f"seamless-lab up failed: {line!r} (exit {p.wait()})")
            ready = time.monotonic() - start
            env = {**os.environ, "KUBECONFIG": kc}
            overlay = os.path.join(ROOT, "manifests/workload/overlays/pod-no-prestop")
            subprocess.run([kubectl, "apply", "-k", overlay], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([kubectl, "-n", "seamless-demo", "rollout", "status",
                            "deployment/web", "--timeout=120s"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
            pod = time.monotonic() - start
            time.sleep(1)  # a second of the steady state in the peak
        finally:
            sampler.stop = True
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        return ready, pod, sampler.peak / 1024 / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release"))
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kubernetes-version", default=open(
        os.path.join(ROOT, "lab/kubernetes/DEFAULT_VERSION")).read().strip())
    args = ap.parse_args()
    kubectl = os.path.join(ROOT, "target/kubernetes", args.kubernetes_version, "bin/kubectl")
    if os.geteuid() != 0:
        sys.exit("run as root: seamless-lab up needs CAP_SYS_ADMIN and CAP_NET_ADMIN")
    for f in [os.path.join(args.bin, "seamless-lab"), kubectl]:
        if not os.path.exists(f):
            sys.exit(f"{f} is missing: cargo build --release -p seamless-lab -p seamless-agent; "
                     "bash lab/kubernetes/build.sh")
    rows = []
    print(f"seamless-lab up, {args.nodes} nodes, Kubernetes {args.kubernetes_version}, "
          f"{os.cpu_count()} cores")
    print(f"{'run':>4} {'nodes Ready s':>14} {'first pod Ready s':>18} {'peak GiB':>9}")
    for i in range(args.runs):
        r = one_run(args, kubectl)
        rows.append(r)
        print(f"{i + 1:>4} {r[0]:>14.2f} {r[1]:>18.2f} {r[2]:>9.3f}")
    med = [statistics.median(c) for c in zip(*rows)]
    print(f"{'med':>4} {med[0]:>14.2f} {med[1]:>18.2f} {med[2]:>9.3f}")
    print(f"goals: nodes Ready <= 20 s ({'met' if med[0] <= 20 else 'MISSED'}), "
          f"peak <= 3 GiB ({'met' if med[2] <= 3 else 'MISSED'})")


if __name__ == "__main__":
    main()
