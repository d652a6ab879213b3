#!/usr/bin/env bash
# Builds the real Kubernetes components the lab runs, from the pinned Go
# modules beside this script, into target/kubernetes/<version>/bin/.
#
#   bash lab/kubernetes/build.sh [VERSION]     (default: the lab's default)
#
# Skips a binary that is already built from the same pins (a stamp beside the
# binaries records the go.sum it came from). Flags as upstream's
# hack/lib/golang.sh builds release binaries: CGO_ENABLED=0, -trimpath,
# tags selinux,notest,grpcnotrace, -s -w, and the version stamped through
# ldflags (k8s.io/component-base/version and k8s.io/client-go/pkg/version), so
# /version and --version tell the truth.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="${1:-$(cat "$here/DEFAULT_VERSION")}"
version="v${version#v}"
kmod="$here/$version"
if [ ! -f "$kmod/go.mod" ]; then
  echo "error: no pinned module for Kubernetes $version (looked for $kmod/go.mod);" \
    "pinned: $(cd "$here" && ls -d v*/ | tr -d / | tr '\n' ' ')" >&2
  exit 2
fi
etcd_version="$(cat "$kmod/ETCD_VERSION")"
emod="$here/etcd-$etcd_version"
out="$root/target/kubernetes/$version/bin"
mkdir -p "$out"

command -v go >/dev/null || {
  echo "error: go is not on PATH (the Kubernetes components are built with Go)" >&2
  exit 2
}

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
tags="selinux,notest,grpcnotrace"
major="${version#v}"
major="${major%%.*}"
minor="${version#v*.}"
minor="${minor%%.*}"
# The module proxy does not carry the release's commit; the tree is the
# published module, unmodified, so its state is "clean".
build_date="$(date -u -d "@$(stat -c %Y "$kmod/go.sum")" +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X '$pkg.gitVersion=$version' -X '$pkg.gitMajor=$major'"
  ldflags+=" -X '$pkg.gitMinor=$minor' -X '$pkg.gitTreeState=clean'"
  ldflags+=" -X '$pkg.buildDate=$build_date'"
done

# build NAME MODULE_DIR PACKAGE [LDFLAGS]
build() {
  local name="$1" dir="$2" pkg="$3" flags="${4:--s -w}"
  local stamp
  stamp="$(sha256sum "$dir/go.sum" | cut -c1-16) $flags"
  if [ -x "$out/$name" ] && [ "$(cat "$out/.$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$name: up to date"
    return
  fi
  echo "$name: building $pkg"
  local start=$SECONDS
  (cd "$dir" && go build -trimpath -tags "$tags" -ldflags "$flags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  echo "$stamp" >"$out/.$name.stamp"
  echo "$name: built in $((SECONDS - start)) s"
}

build etcd "$emod" go.etcd.io/etcd/server/v3
# Cluster DNS, where the version names one (COREDNS_VERSION).
if [ -f "$kmod/COREDNS_VERSION" ]; then
  cdir="$here/coredns-$(cat "$kmod/COREDNS_VERSION")"
  build coredns "$cdir" github.com/coredns/coredns
fi
for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl; do
  build "$c" "$kmod" "k8s.io/kubernetes/cmd/$c" "$ldflags"
done
"$out/kube-apiserver" --version
