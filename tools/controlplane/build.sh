#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from the pinned wrapper
# modules beside this script. Binaries are cached by version under $TRANSOM_CACHE (default
# ~/.cache/transom), so only the first run pays for the build (about 15 minutes on 2 cores).
# Prints the bin directory on the last line of stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TRANSOM_CACHE:-$HOME/.cache/transom}"

k8s_version="$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$here/kubernetes/go.mod")"
etcd_version="$(awk '$1=="require" && $2=="go.etcd.io/etcd/server/v3" {print $3}' "$here/etcd/go.mod")"
bin="$cache/bin/k8s-$k8s_version-etcd-$etcd_version"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[controlplane build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build() { # module-dir package output [ldflags]
  local dir="$1" pkg="$2" out="$3" ldflags="${4:-}"
  if [ -x "$bin/$out" ]; then
    log "$out: cached in $bin"
    return
  fi
  log "$out: building $pkg (first run only) ..."
  local start=$SECONDS
  (cd "$here/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$out.tmp" "$pkg") &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "$out: still building ($((SECONDS - start)) s)"
  done
  wait "$pid"
  mv "$bin/$out.tmp" "$bin/$out"
  log "$out: built in $((SECONDS - start)) s"
}

minor="${k8s_version#v1.}"; minor="${minor%%.*}"
version_ldflags="-X k8s.io/component-base/version.gitVersion=$k8s_version \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=$k8s_version \
-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

build etcd go.etcd.io/etcd/server/v3 etcd
build kubernetes k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$version_ldflags"
build kubernetes k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$version_ldflags"
build kubernetes k8s.io/kubernetes/cmd/kubectl kubectl "$version_ldflags"
echo "$bin"
