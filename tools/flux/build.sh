#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from the pinned wrapper modules beside
# this script and copies their CRDs out of the module cache (never the network). Binaries and CRDs
# are cached by version under $TRANSOM_CACHE (default ~/.cache/transom), so only the first run
# pays for the build (about 15 minutes on 2 cores). Prints the bin directory on the last line of
# stdout; the CRDs are in its crds/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TRANSOM_CACHE:-$HOME/.cache/transom}"

version_of() { # wrapper-dir module
  awk -v m="$2" '($1=="require" && $2==m) || $1==m {print ($1=="require" ? $3 : $2); exit}' \
    "$here/$1/go.mod"
}
source_version="$(version_of source-controller github.com/fluxcd/source-controller)"
kustomize_version="$(version_of kustomize-controller github.com/fluxcd/kustomize-controller)"
bin="$cache/bin/flux-source-$source_version-kustomize-$kustomize_version"
mkdir -p "$bin/crds"
# Concurrent runs (two `make test`s) wait for the first instead of building the same binary twice.
exec 9>"$bin/.lock"
flock 9
export CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"

log() { printf '[flux build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build() { # module-dir package output
  local dir="$1" pkg="$2" out="$3"
  if [ -x "$bin/$out" ]; then
    log "$out: cached in $bin"
    return
  fi
  log "$out: building $pkg (first run only) ..."
  local start=$SECONDS next=30
  (cd "$here/$dir" && exec go build -trimpath -ldflags "-s -w" -o "$bin/$out.tmp.$$" "$pkg") &
  local pid=$!
  # A killed build must not leave an orphaned compiler running on a 2-core machine.
  trap 'kill "$pid" 2>/dev/null; exit 130' INT TERM HUP
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1 # short, so the trap above runs promptly
    if ((SECONDS - start >= next)) && kill -0 "$pid" 2>/dev/null; then
      log "$out: still building ($((SECONDS - start)) s)"
      next=$((next + 30))
    fi
  done
  wait "$pid"
  trap - INT TERM HUP
  mv "$bin/$out.tmp.$$" "$bin/$out"
  log "$out: built in $((SECONDS - start)) s"
}

copy_crds() { # module-dir module
  local dir="$1" module="$2" src
  src="$(cd "$here/$dir" && go list -m -f '{{.Dir}}' "$module")/config/crd/bases"
  cp "$src"/*.yaml "$bin/crds/"
  chmod u+w "$bin"/crds/*.yaml # the module cache is read-only; keep the copies replaceable
}

build source-controller github.com/fluxcd/source-controller source-controller
build kustomize-controller github.com/fluxcd/kustomize-controller kustomize-controller
if [ ! -e "$bin/crds/.complete" ]; then
  copy_crds source-controller github.com/fluxcd/source-controller
  copy_crds kustomize-controller github.com/fluxcd/kustomize-controller
  touch "$bin/crds/.complete"
  log "CRDs copied from the module cache to $bin/crds"
fi
echo "$bin"
