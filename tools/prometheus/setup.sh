#!/usr/bin/env bash
# promtool, to check deploy/prometheus's alert rules and run their unit tests
# (tests/unit/test_monitoring.py). Only the one binary is taken out of Debian's `prometheus`
# package (apt-get download, no install: no service, no user), cached by version in
#   ${TRANSOM_CACHE:-~/.cache/transom}/bin/promtool-<version>/promtool
# Prints that path.
set -euo pipefail
cache="${TRANSOM_CACHE:-$HOME/.cache/transom}/bin"
version="$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')"
if [[ -z "$version" || "$version" == "(none)" ]]; then
    # Lists never fetched on this machine: one update, then ask again.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    version="$(apt-cache policy prometheus | awk '/Candidate:/ {print $2}')"
fi
[[ -n "$version" && "$version" != "(none)" ]] || { echo "no prometheus package in apt's sources" >&2; exit 1; }
dir="$cache/promtool-${version//[^A-Za-z0-9.+-]/_}"
if [[ ! -x "$dir/promtool" ]]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get download -qq "prometheus=$version" 2>/dev/null) \
        || { echo "apt-get download prometheus=$version failed" >&2; exit 1; }
    dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
    mkdir -p "$dir"
    install -m 0755 "$work/x/usr/bin/promtool" "$dir/promtool.tmp"
    mv "$dir/promtool.tmp" "$dir/promtool"
fi
"$dir/promtool" --version >/dev/null
echo "$dir/promtool"
