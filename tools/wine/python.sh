#!/usr/bin/env bash
# Run the lane's Windows CPython under Wine: tools/wine/python.sh -m pytest tests/unit/windows
#
# Never in ~/.wine nor in the sealed prefix set-up built: in TRANSOM_WINE_PREFIX when set (a run
# prefix from `tools/wine/prefix.sh new`, shared by several calls, as the agent tests do), else
# in a throwaway prefix removed afterwards. The checkout's src/ goes on sys.path.
# Wine 8 hands Windows CPython an invalid handle for a standard stream that is a regular file or
# missing (it dies in init_sys_streams), so all three always go through pipes — as under CI,
# which runs with no standard input and output redirected to files.
set -uo pipefail
source "$(dirname "$0")/lane.sh"
wine_env
if [[ ! -f "$WINE_HOME/READY" ]]; then
    echo "the Windows lane is not set up for these versions: run tools/wine/setup.sh" >&2
    exit 3
fi
if [[ -n "${TRANSOM_WINE_PREFIX:-}" ]]; then
    export WINEPREFIX="$TRANSOM_WINE_PREFIX"
else
    WINEPREFIX="$(wine_new_run)" && export WINEPREFIX
    trap 'wine_remove_run "$WINEPREFIX"' EXIT
fi
export TRANSOM_WINE_SRC="Z:$(cd "$WINE_TOOLS/../../src" && pwd | tr / '\\')"
export PYTHONUTF8=1 TRANSOM_WINE=1   # tests skip what Wine lacks by this (tests/platforms.py)
feed=(:)
[[ -p /dev/stdin || -f /dev/stdin ]] && feed=(cat)
"${feed[@]}" | wine "$WIN_PYEXE" "$@" 2> >(cat >&2) | cat
rc=${PIPESTATUS[1]}
wait   # for the stderr copier too
exit "$rc"
