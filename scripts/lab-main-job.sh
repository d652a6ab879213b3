#!/usr/bin/env bash
# The main job: the seed's experiment on this machine, on the real
# Kubernetes components (API server, controller-manager, scheduler,
# kube-proxy, built here from source; our kubelet), with ground truth.
#
# It builds the release binaries and the components of the two versions,
# then runs the seed's matrix (network pod|host x access clusterip|nodeport
# x termination no-prestop|prestop) REPEAT times on each of
#   v1.37.2 (the default) with kube-proxy in iptables mode,
#   v1.26.3 (the seed's)  with kube-proxy in iptables mode,
#   v1.37.2               with kube-proxy in nftables mode,
# sweeps two real knobs on one scenario (pod-clusterip-no-prestop):
# kube-proxy's minSyncPeriod (0s, 100ms, 1s default, 5s) and the EndpointSlice
# controller's --endpointslice-updates-batch-period (0s default, 1s, 5s),
# analyses every run, checks each against its ground truth, and compares:
#   OUT/<version>-<mode>/<scenario>/run-NN/   probe log, timeline.jsonl,
#                                run.json (ground truth), report.{json,md},
#                                plot.{png,svg}
#   OUT/<version>-<mode>/compare.{md,json,png,svg}   that matrix's scenarios
#   OUT/compare-versions.*       no-preStop downtime per version and mode
#   OUT/sweep/<knob>-<value>/... the sweep's runs; OUT/sweep/compare.*
#   OUT/ground-truth-check.txt   every run against its ground truth
#   OUT/figures.md, OUT/lab-summary.jsonl, OUT/PROVENANCE.md
# Git keeps run-01 of each scenario whole and, of the other runs, all but
# the probe logs and plots (.gitignore; results/README.md).
#
# MATRICES="v1.26.3:iptables ..." and SWEEP=0 run a part (the analysis
# still covers every run in OUT); a matrix whose run fails is reported and
# the job goes on, exiting 1 at the end.
# PROXY=emulated runs the earlier, emulated lab instead (its own rules and
# rollout, drawn delays) into OUT=results/lab-emulated; it needs no Go.
# Needs root, Go (for the components) and lab/prerequisites.txt's
# programs, installed below when missing. REPEAT=10: about 15 minutes per
# matrix on 2 cores, 50 in all; SWEEP_REPEAT (default REPEAT) runs per
# sweep point.
set -euo pipefail
cd "$(dirname "$0")/.."

PROXY=${PROXY:-real}
REPEAT=${REPEAT:-10}
SWEEP_REPEAT=${SWEEP_REPEAT:-$REPEAT}
SEED=${SEED:-20261127}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ "$PROXY" = emulated ]; then OUT=${OUT:-results/lab-emulated}; else OUT=${OUT:-results/lab}; fi
case "$PROXY" in real|emulated) ;; *) echo "lab-main-job: PROXY is real or emulated, not '$PROXY'" >&2; exit 2;; esac

# On a fresh Debian/Ubuntu machine, as root: what the lab needs, from its
# one list (lab/prerequisites.txt: program, package, when needed; the
# emulated job runs the built-in backend, so nginx is not needed there).
need=()
while read -r program package when; do
  [ "$when" = nginx-backend ] && [ "$PROXY" = emulated ] && continue
  command -v "$program" >/dev/null 2>&1 || need+=("$package")
done < <(sed 's/#.*//' lab/prerequisites.txt | awk 'NF >= 3')
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "lab-main-job: missing packages: ${need[*]} (install them, or run as root on Debian/Ubuntu)" >&2
    exit 2
  fi
fi

# BIN=DIR uses binaries built already (all four) and skips the build.
if [ -z "${BIN:-}" ]; then
  BIN="$CARGO_TARGET_DIR/release"
  cargo build --release -p seamless-agent -p seamless-controller -p seamless-lab -p seamless-analyzer
fi
report() { "$BIN/seamless-analyzer" report "$1" >/dev/null; }

if [ "$PROXY" = emulated ]; then
  rm -rf "$OUT"/*-prestop "$OUT/figures.md" "$OUT"/compare.* "$OUT/lab-summary.jsonl" "$OUT/PROVENANCE.md"
  mkdir -p "$OUT"
  LAB_CMDS=("$BIN/seamless-lab run --proxy emulated --all --repeat $REPEAT --seed $SEED --out $OUT")
  "$BIN/seamless-lab" run --proxy emulated --all --repeat "$REPEAT" --seed "$SEED" \
    --out "$OUT" --agent-bin "$BIN/seamless-agent"
  runs=("$OUT"/*/run-*)
  for run in "${runs[@]}"; do report "$run"; done
  "$BIN/seamless-analyzer" compare "${runs[@]}" --out "$OUT"
  matrices=(.)
else
  command -v go >/dev/null 2>&1 || {
    echo "lab-main-job: the Kubernetes components are built with Go, and go is not on PATH" \
         "(install Go, or PROXY=emulated for the emulated lab)" >&2
    exit 2
  }
  DEFAULT=$(cat lab/kubernetes/DEFAULT_VERSION)
  SEED_VERSION=v1.26.3
  for v in "$DEFAULT" "$SEED_VERSION"; do bash lab/kubernetes/build.sh "$v"; done
  MATRICES=${MATRICES:-"$DEFAULT:iptables $SEED_VERSION:iptables $DEFAULT:nftables"}
  SWEEP=${SWEEP:-1}
  # Replace what an earlier run of this job left of what runs now, nothing
  # else.
  for vm in $MATRICES; do rm -rf "${OUT:?}/${vm%%:*}-${vm##*:}"; done
  [ "$SWEEP" = 0 ] || rm -rf "$OUT/sweep"
  rm -rf "$OUT/compare-versions" "$OUT/figures.md" "$OUT/lab-summary.jsonl" \
         "$OUT/PROVENANCE.md" "$OUT/ground-truth-check.txt" "$OUT/summary.md"
  mkdir -p "$OUT"
  LAB_CMDS=()
  failed=0
  lab() { # OUT-DIR ARGS...: one seamless-lab run on the real components
    local dir=$1; shift
    LAB_CMDS+=("$BIN/seamless-lab run --proxy real --seed $SEED --out $dir $*")
    echo "+ seamless-lab run --proxy real --out $dir $*" >&2
    local t0=$SECONDS
    "$BIN/seamless-lab" run --proxy real --seed "$SEED" --out "$dir" \
      --agent-bin "$BIN/seamless-agent" --controller-bin "$BIN/seamless-controller" "$@" ||
      { echo "lab-main-job: a run of $dir failed (its line above)" >&2; failed=1; }
    echo "lab-main-job: $dir took $((SECONDS - t0)) s" | tee -a "$OUT/timings.txt" >&2
  }
  touch "$OUT/timings.txt"
  for vm in $MATRICES; do
    v=${vm%%:*} m=${vm##*:}
    lab "$OUT/$v-$m" --all --repeat "$REPEAT" --kubernetes-version "$v" --proxy-mode "$m"
  done
  matrices=()
  for d in "$OUT"/v*-*/; do [ -d "$d" ] && matrices+=("$(basename "$d")"); done
  SWEEP_SCENARIO=pod-clusterip-no-prestop
  [ "$SWEEP" = 0 ] || for point in proxy-min-sync-period:0s proxy-min-sync-period:100ms proxy-min-sync-period:5s \
               endpointslice-updates-batch-period:1s endpointslice-updates-batch-period:5s; do
    knob=${point%%:*} value=${point##*:}
    lab "$OUT/sweep/$knob-$value" --scenario "$SWEEP_SCENARIO" --repeat "$SWEEP_REPEAT" "--$knob" "$value"
  done
  shopt -s nullglob
  runs=("$OUT"/v*-*/*/run-* "$OUT"/sweep/*/*/run-*)
  for run in "${runs[@]}"; do report "$run"; done
  for m in "${matrices[@]}"; do
    "$BIN/seamless-analyzer" compare "$OUT/$m"/*/run-* --out "$OUT/$m"
  done
  # Beyond the seed: the downtime of every no-preStop run, one
  # distribution per version and mode.
  mkdir -p "$OUT/compare-versions"
  "$BIN/seamless-analyzer" compare "$OUT"/v*-*/*-no-prestop/run-* --group-by lab.group \
    --out "$OUT/compare-versions"
  # The sweep against the default's own runs of the same scenario.
  if [ -d "$OUT/sweep" ]; then
    "$BIN/seamless-analyzer" compare "$OUT/$DEFAULT-iptables/$SWEEP_SCENARIO"/run-* "$OUT"/sweep/*/*/run-* \
      --group-by lab.group --out "$OUT/sweep"
  fi
  python3 scripts/lab-results-table.py "$OUT" > "$OUT/summary.md"
fi

"$BIN/seamless-analyzer" check-truth "${runs[@]}" > "$OUT/ground-truth-check.txt" || true
tail -1 "$OUT/ground-truth-check.txt" >&2
cat "$OUT"/lab-summary.jsonl "$OUT"/*/lab-summary.jsonl "$OUT"/sweep/*/lab-summary.jsonl 2>/dev/null > "$OUT/.summary" || true
mv "$OUT/.summary" "$OUT/lab-summary.jsonl"

# One figure per scenario: each matrix's run-01 plots, linked (no copy).
{
  echo "# Figures: one run per scenario"
  echo
  echo "Each scenario's run-01, as \`seamless-analyzer report\` drew it (SVG beside the PNG)."
  for m in "${matrices[@]}"; do
    for dir in "$OUT/$m"/*/; do
      [ -f "$dir/run-01/plot.png" ] || continue
      name=${dir#"$OUT"/}; name=${name#./}; name=${name%/}
      echo
      echo "## $name"
      echo
      echo "![$name]($name/run-01/plot.png)"
      echo
      echo "[SVG]($name/run-01/plot.svg), [report]($name/run-01/report.md)"
    done
  done
} > "$OUT/figures.md"

{
  echo "# Provenance of $OUT"
  echo
  echo "Made by \`scripts/lab-main-job.sh\` (PROXY=$PROXY REPEAT=$REPEAT SWEEP_REPEAT=$SWEEP_REPEAT SEED=$SEED):"
  echo
  echo '```'
  printf '%s\n' "${LAB_CMDS[@]}"
  echo "seamless-analyzer report RUN   # every run"
  echo "seamless-analyzer compare ...  # per matrix, across versions, the sweep"
  echo "seamless-analyzer check-truth RUN... > ground-truth-check.txt"
  echo '```'
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # Local changes to the code, not to the results this job just rewrote.
  echo "- commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- . ":(exclude)$OUT" 2>/dev/null || echo ' (with local changes)')"
  echo "- seamless: $("$BIN/seamless-controller" --version), $("$BIN/seamless-lab" --version), $("$BIN/seamless-agent" --version), $("$BIN/seamless-analyzer" --version)"
  if [ "$PROXY" = real ]; then
    for v in "$DEFAULT" "$SEED_VERSION"; do
      echo "- kubernetes $v: $("$CARGO_TARGET_DIR/kubernetes/$v/bin/kube-proxy" --version 2>&1 | head -1), built with $(go version | cut -d' ' -f3)"
    done
    [ -f "$OUT/timings.txt" ] && sed 's/^lab-main-job: /- wall time: /' "$OUT/timings.txt"
  fi
  echo "- rustc: $(rustc --version)"
  echo "- kernel: $(uname -srm)"
  echo "- iptables: $(iptables --version)"
  echo "- nftables: $(nft --version 2>/dev/null || echo none)"
  echo "- iproute2: $(ip -V)"
  echo "- nginx: $(nginx -v 2>&1 || echo none)"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "- user: $(id -un)"
} > "$OUT/PROVENANCE.md"
rm -f "$OUT/timings.txt"
echo "done: $OUT" >&2
exit "${failed:-0}"
