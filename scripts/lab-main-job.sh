#!/usr/bin/env bash
# The main job: the seed's experiment on this machine, with ground truth.
# Builds the release binaries, runs the lab's whole scenario matrix
# (network pod|host x access clusterip|nodeport x termination
# no-prestop|prestop) REPEAT times, analyses every run, compares them, and
# leaves everything in OUT (default results/lab):
#   OUT/<scenario>/run-NN/   probe log, timeline.jsonl, run.json (ground
#                            truth), report.{json,md}, plot.{png,svg}
#   OUT/figures.md                     one figure per scenario: links to
#                                      its run-01/plot.{png,svg}
#   OUT/compare.{md,json,png,svg}      every run side by side
#   OUT/lab-summary.jsonl              the lab's own per-run line
#   OUT/PROVENANCE.md                  command, versions, machine
# Git keeps run-01 of each scenario whole and, of the other runs, all but
# the probe logs and plots (.gitignore; results/README.md).
# Needs root (or unprivileged user namespaces) and lab/prerequisites.txt's
# programs, installed below when missing; about 5 s a run, so 8 x 10 runs
# take 7-8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-results/lab}
REPEAT=${REPEAT:-10}
SEED=${SEED:-20261127}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
# On a fresh Debian/Ubuntu machine, as root: what the lab needs, from its
# one list (lab/prerequisites.txt: program, package, when needed; the job
# runs the built-in backend, so nginx is not needed).
need=()
while read -r program package when; do
  [ "$when" = nginx-backend ] && continue
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

# Replace what an earlier run of this script left, nothing else.
rm -rf "$OUT"/*-prestop "$OUT/figures" "$OUT/figures.md" "$OUT"/compare.* "$OUT/lab-summary.jsonl" "$OUT/PROVENANCE.md"
mkdir -p "$OUT"
LAB_CMD=("$BIN/seamless-lab" run --all --repeat "$REPEAT" --seed "$SEED"
         --out "$OUT" --agent-bin "$BIN/seamless-agent")
echo "+ ${LAB_CMD[*]}" >&2
"${LAB_CMD[@]}"

# A partial outage (iptables still sends half the new connections to the
# dead pod) interleaves failures with successes: the analyzer's default
# merging keeps it one window (a run of successes ends a window only when
# it could not be chance at the window's failure ratio); a stall of the
# agent adds no successes, so it changes nothing.
runs=("$OUT"/*/run-*)
for run in "${runs[@]}"; do
  "$BIN/seamless-analyzer" report "$run" >/dev/null
done
# One figure per scenario, its run-01's plot: an index links to it (no copy).
{
  echo "# Figures: one run per scenario"
  echo
  echo "Each scenario's run-01, as \`seamless-analyzer report\` drew it (SVG beside the PNG)."
  for dir in "$OUT"/*/; do
    scenario=$(basename "$dir")
    [ -f "$dir/run-01/plot.png" ] || continue
    echo
    echo "## $scenario"
    echo
    echo "![$scenario]($scenario/run-01/plot.png)"
    echo
    echo "[SVG]($scenario/run-01/plot.svg), [report]($scenario/run-01/report.md)"
  done
} > "$OUT/figures.md"
"$BIN/seamless-analyzer" compare "${runs[@]}" --out "$OUT"
"$BIN/seamless-analyzer" check-truth "${runs[@]}" > "$OUT/ground-truth-check.txt" || true
tail -1 "$OUT/ground-truth-check.txt" >&2

{
  echo "# Provenance of $OUT"
  echo
  echo "Made by \`scripts/lab-main-job.sh\` (REPEAT=$REPEAT SEED=$SEED):"
  echo
  echo '```'
  echo "${LAB_CMD[*]}"
  echo "seamless-analyzer report RUN   # every run"
  echo "seamless-analyzer compare $OUT/*/run-* --out $OUT"
  echo '```'
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # Local changes to the code, not to the results this job just rewrote.
  echo "- commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- . ":(exclude)$OUT" 2>/dev/null || echo ' (with local changes)')"
  echo "- seamless: $("$BIN/seamless-controller" --version), $("$BIN/seamless-lab" --version), $("$BIN/seamless-agent" --version), $("$BIN/seamless-analyzer" --version)"
  echo "- rustc: $(rustc --version)"
  echo "- kernel: $(uname -srm)"
  echo "- iptables: $(iptables --version)"
  echo "- iproute2: $(ip -V)"
  echo "- nginx: $(nginx -v 2>&1 || echo none)"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "- user: $(id -un)"
} > "$OUT/PROVENANCE.md"
echo "done: $OUT" >&2
