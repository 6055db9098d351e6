#!/usr/bin/env bash
# Run prefixes for callers that make several python.sh calls on one Windows "machine":
#   run=$(tools/wine/prefix.sh new); TRANSOM_WINE_PREFIX=$run tools/wine/python.sh ...
#   tools/wine/prefix.sh rm "$run"    # stops its wineserver and processes, removes it
set -euo pipefail
source "$(dirname "$0")/lane.sh"
wine_env
case "${1:-}" in
    new) [[ -f "$WINE_HOME/READY" ]] || { echo "run tools/wine/setup.sh first" >&2; exit 3; }
         wine_new_run ;;
    rm) wine_remove_run "${2:?usage: prefix.sh rm DIR}" ;;
    *) echo "usage: prefix.sh new | rm DIR" >&2; exit 2 ;;
esac
