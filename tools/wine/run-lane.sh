#!/usr/bin/env bash
# The Windows lane, inside Windows CPython under Wine: the unit suite against the REAL facade
# (pywin32, the registry, the SCM, DPAPI, files, the notifiers). Tests Wine cannot run are
# skipped by name (tests/platforms.py); the summary at the end counts them by reason.
# The Linux-side lane tests (tests/wine: the agent process on Windows CPython against the real
# control plane, the CLI on the examples) run in the ordinary pytest run.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$SECONDS
export TRANSOM_FACADE=win32
# Not Windows code: the repository's lint tooling (tree-sitter) runs on Linux, in `make lint`.
echo "[wine] not run here: tests/unit/lint (repository lint tooling; Linux, make lint)"
rc=0
tools/wine/python.sh -m pytest tests/unit --ignore=tests/unit/lint -p no:cacheprovider "$@" || rc=$?
echo "[wine] lane finished in $((SECONDS - start)) s (exit $rc)"
exit "$rc"
