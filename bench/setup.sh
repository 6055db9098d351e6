#!/usr/bin/env bash
# The peers `make bench` compares Transom with, installed here rather than by hand so a fresh
# machine runs the same benchmark: Debian's puppet, and ansible-core from PyPI in its own venv
# (kept out of .venv so its dependencies never meet the project's).
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
ANSIBLE_VENV=${TRANSOM_BENCH_ANSIBLE_VENV:-$HOME/.cache/transom/bench-ansible}
ANSIBLE_CORE_VERSION=2.19.14

if ! command -v puppet >/dev/null; then
    echo "bench/setup.sh: installing Debian's puppet" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine has no package lists yet; update only when the install needs it.
    apt-get install -y -q puppet >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q puppet >/dev/null
    }
fi

if [[ "${TRANSOM_BENCH_SKIP_ANSIBLE:-0}" != 1 && ! -x "$ANSIBLE_VENV/bin/ansible-playbook" ]]; then
    echo "bench/setup.sh: installing ansible-core $ANSIBLE_CORE_VERSION into $ANSIBLE_VENV" >&2
    "$PYTHON" -m venv "$ANSIBLE_VENV"
    "$ANSIBLE_VENV/bin/pip" install --quiet "ansible-core==$ANSIBLE_CORE_VERSION"
fi
