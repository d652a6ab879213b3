#!/usr/bin/env bash
# `seamless-controller experiment` on the lab's real control plane with
# every placement and target option at once: an agent pod on each node
# (--agents-per-node), each probing web and the control Service by
# ClusterIP and by nodePort (--access both --control control), against
# pod-no-prestop-with-control. Output: results/experiment-control/.
#
#   sudo bash scripts/lab-experiment-control.sh [RUNS]     (default 3)
#
# Needs the lab's components built (bash lab/kubernetes/build.sh) and the
# binaries of `cargo build -p seamless-lab -p seamless-agent -p
# seamless-controller -p seamless-analyzer` (PROFILE=release for those).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
profile="${PROFILE:-debug}"
bin="target/$profile"
k8s="target/kubernetes/$(cat lab/kubernetes/DEFAULT_VERSION)/bin"
out="results/experiment-control"
work="$(mktemp -d)"
rm -rf "$out"
"$bin/seamless-lab" up --nodes 2 --kubeconfig "$work/kubeconfig" \
  --kubernetes-bin "$k8s" --agent-bin "$bin/seamless-agent" \
  >"$work/up.out" 2>"$work/up.err" &
lab=$!
trap 'kill -INT $lab 2>/dev/null; wait $lab 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 240); do
  grep -q '^export KUBECONFIG' "$work/up.out" 2>/dev/null && break
  kill -0 $lab 2>/dev/null || { cat "$work/up.err" >&2; exit 1; }
  sleep 0.5
done
export KUBECONFIG="$work/kubeconfig"
"$k8s/kubectl" apply -k manifests/workload/overlays/pod-no-prestop-with-control >/dev/null
"$k8s/kubectl" -n seamless-demo rollout status deploy/web --timeout=120s >/dev/null
"$k8s/kubectl" -n seamless-demo rollout status deploy/control --timeout=120s >/dev/null
"$bin/seamless-controller" experiment -n seamless-demo web --alternate-nodes node-a,node-b \
  --agents-per-node --access both --control control --rate 500 \
  --repeat "$runs" --between 2s --settle 5s --timeout 2m \
  --analyzer "$bin/seamless-analyzer" --out "$out" 2>&1 | grep -v INFO
