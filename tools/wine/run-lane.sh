#!/usr/bin/env bash
# The Windows lane, inside Windows CPython under Wine: the unit suite against the REAL facade
# (pywin32, the registry, the SCM, DPAPI, files, the notifiers). Tests Wine cannot run are
# skipped by name (tests/platforms.py); the summary at the end counts them by reason.
# The Linux-side lane tests (tests/wine: the agent process on Windows CPython against the real
# control plane, the CLI on the examples) run in the ordinary pytest run.
#
#   tools/wine/run-lane.sh [PATH...] [PYTEST OPTION...]
# With paths (test files, folders, file::test), only those run; options go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$SECONDS
export TRANSOM_FACADE=win32
# What reaches Windows code paths: the Windows providers, the agent's store (DPAPI), credential
# sources, the audit sinks (Event Log), the engine, the dev PKI and the import of every module.
# The rest of tests/unit is posix tooling (CLI terminal handling, posix providers, process
# groups, lint) and runs on Linux only; it is named here so nothing is left out silently.
LANE=(tests/unit/windows tests/unit/agent tests/unit/credentials tests/unit/audit
      tests/unit/engine tests/unit/dev tests/unit/test_imports.py tests/unit/test_examples.py
      tests/unit/api/test_windows.py)
selected=()
while [[ $# -gt 0 && "$1" != -* ]]; do selected+=("$1"); shift; done
if ((${#selected[@]})); then
    echo "[wine] running the selection: ${selected[*]}"
else
    selected=("${LANE[@]}")
    echo "[wine] running: ${LANE[*]}"
    linux_only=()
    for path in tests/unit/*/ tests/unit/test_*.py; do
        path="${path%/}"
        [[ " ${LANE[*]} " == *" $path "* ]] || linux_only+=("$path")
    done
    echo "[wine] Linux only (posix code and tooling): ${linux_only[*]}"
fi
rc=0
tools/wine/python.sh -m pytest "${selected[@]}" -p no:cacheprovider "$@" || rc=$?
echo "[wine] lane finished in $((SECONDS - start)) s (exit $rc)"
exit "$rc"
