#!/usr/bin/env bash
# Makes the pinned module for one Kubernetes version (run once per version;
# the result, VERSION/go.mod and go.sum, is committed):
#
#   bash lab/kubernetes/pin.sh v1.26.3 v3.5.6
#
# k8s.io/kubernetes replaces its staging modules with ./staging/src/...; a
# module that requires it must replace each with its published twin
# (k8s.io/X v0.MINOR.PATCH). The list is read from that version's own go.mod.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="v${1#v}"
etcd="v${2#v}"
dir="$here/$version"
mkdir -p "$dir"
mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$version.mod"
[ -f "$mod" ] || (cd "$dir" && go mod download k8s.io/kubernetes@"$version")
go_line="$(grep -m1 '^go ' "$mod")"
{
  echo "// Pins the Kubernetes components the lab runs: k8s.io/kubernetes $version"
  echo "// with every staging module replaced by its published twin (made by"
  echo "// ../pin.sh; see ../README.md)."
  echo "module seamless.lab/kubernetes"
  echo
  echo "$go_line"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  grep -E '^\s+k8s.io/[a-z-]+ => ./staging' "$mod" |
    awk -v v="v0.${version#v1.}" '{print "\t"$1" => "$1" "v}'
  echo ")"
} >"$dir/go.mod"
echo "$etcd" >"$dir/ETCD_VERSION"
cd "$dir"
go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$version" "k8s.io/kubernetes/cmd/kube-controller-manager@$version" \
  "k8s.io/kubernetes/cmd/kube-scheduler@$version" "k8s.io/kubernetes/cmd/kube-proxy@$version" "k8s.io/kubernetes/cmd/kubectl@$version"
go mod tidy
edir="$here/etcd-$etcd"
if [ ! -f "$edir/go.mod" ]; then
  mkdir -p "$edir"
  printf '// Pins the etcd server the lab runs with Kubernetes %s; see ../README.md.\nmodule seamless.lab/etcd\n\ngo 1.26.0\n' "$version" >"$edir/go.mod"
  (cd "$edir" && go get -tool "go.etcd.io/etcd/server/v3@$etcd" && go mod tidy)
fi
