#!/usr/bin/env bash
# Issue 13's lab results: new and reused connections side by side
# (`--agent-mode new,reuse`) through the seed's 8 scenarios on the real
# Kubernetes components, with the old pod's nginx stopped fast (kubelet's
# SIGTERM: nginx closes every connection at once) or gracefully (SIGQUIT
# from the preStop hook, after the scenario's `sleep 10`, waited for), and
# the agent's reuse mode with its idle check (a careful client: a
# connection the server closed while idle is found closed before a request
# goes out on it) and without it (`--agent-no-idle-check`: a client that
# sends on it). REPEAT runs a scenario of each of the four matrices:
#   OUT/<shutdown>-<client>/<scenario>/run-NN/   run.json (ground truth with
#                                 old_backend_conns), timeline, report.{json,md}
#   OUT/summary.md                the table (scripts/lab-keepalive-table.py)
#   OUT/PROVENANCE.md             commands, commit, versions, wall times
# Git keeps run-01 of each scenario whole and, of the other runs, all but
# the probe logs, plots and HTML reports (.gitignore).
#
# POOL (default 64): reuse mode's connections. At the Job's 2,000 probes/s
# a connection carries POOL-th of them; nginx closes a connection after
# 1,000 requests (keepalive_requests), so with 8 (the agent's default, 250
# a second each) every connection the old pod had at its deletion is
# recycled onto the new pod within the 10 s preStop, and SIGTERM finds none.
# 64 (31 a second each, 32 s a connection) keeps them on the old pod past it.
# Needs root and the components (bash lab/kubernetes/build.sh); about 6
# minutes a matrix at REPEAT=3 on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-3}
SEED=${SEED:-20261202}
POOL=${POOL:-64}
OUT=${OUT:-results/lab-keepalive}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
MATRICES=${MATRICES:-"fast:careful graceful:careful fast:naive graceful:naive"}
if [ -z "${BIN:-}" ]; then
  BIN="$CARGO_TARGET_DIR/release"
  cargo build --release -p seamless-agent -p seamless-controller -p seamless-lab -p seamless-analyzer
fi
for m in $MATRICES; do rm -rf "${OUT:?}/${m%%:*}-${m##*:}"; done
rm -f "$OUT/summary.md" "$OUT/PROVENANCE.md"
mkdir -p "$OUT"
LAB_CMDS=()
TIMES=()
failed=0
for m in $MATRICES; do
  shutdown=${m%%:*} client=${m##*:}
  args=(--all --repeat "$REPEAT" --agent-mode new,reuse --agent-pool "$POOL" --shutdown "$shutdown")
  [ "$client" = naive ] && args+=(--agent-no-idle-check)
  dir="$OUT/$shutdown-$client"
  LAB_CMDS+=("$BIN/seamless-lab run --proxy real --seed $SEED --out $dir ${args[*]}")
  echo "+ seamless-lab run --proxy real --out $dir ${args[*]}" >&2
  t0=$SECONDS
  "$BIN/seamless-lab" run --proxy real --seed "$SEED" --out "$dir" \
    --agent-bin "$BIN/seamless-agent" --controller-bin "$BIN/seamless-controller" "${args[@]}" ||
    { echo "lab-keepalive-job: a run of $dir failed (its line above)" >&2; failed=1; }
  TIMES+=("$dir took $((SECONDS - t0)) s")
done
shopt -s nullglob
for run in "$OUT"/*-*/*/run-*; do "$BIN/seamless-analyzer" report "$run" >/dev/null; done
python3 scripts/lab-keepalive-table.py "$OUT" > "$OUT/summary.md"
{
  echo "# Provenance of $OUT"
  echo
  echo "Made by \`scripts/lab-keepalive-job.sh\` (REPEAT=$REPEAT SEED=$SEED POOL=$POOL):"
  echo
  echo '```'
  printf '%s\n' "${LAB_CMDS[@]}"
  echo "seamless-analyzer report RUN   # every run"
  echo "python3 scripts/lab-keepalive-table.py $OUT > $OUT/summary.md"
  echo '```'
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- lab agent analyzer proto 2>/dev/null || echo ' (with local changes)')"
  echo "- seamless: $("$BIN/seamless-controller" --version), $("$BIN/seamless-lab" --version), $("$BIN/seamless-agent" --version), $("$BIN/seamless-analyzer" --version)"
  v=$(cat lab/kubernetes/DEFAULT_VERSION)
  echo "- kubernetes $v: $("$CARGO_TARGET_DIR/kubernetes/$v/bin/kube-proxy" --version 2>&1 | head -1) (kube-proxy iptables mode)"
  for t in "${TIMES[@]}"; do echo "- wall time: $t"; done
  echo "- kernel: $(uname -srm)"
  echo "- nginx: $(nginx -v 2>&1 || echo none)"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
} > "$OUT/PROVENANCE.md"
exit $failed
