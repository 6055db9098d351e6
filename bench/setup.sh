#!/usr/bin/env bash
# The peers `make bench` compares Transom with, installed here rather than by hand so a fresh
# machine runs the same benchmark: Debian's puppet and cfengine3, and ansible-core from PyPI in
# its own venv (kept out of .venv so its dependencies never meet the project's).
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
ANSIBLE_VENV=${TRANSOM_BENCH_ANSIBLE_VENV:-$HOME/.cache/transom/bench-ansible}
ANSIBLE_CORE_VERSION=2.19.14

# Another process may hold the dpkg lock (unattended upgrades, a parallel install): wait for it.
APT=(apt-get -o DPkg::Lock::Timeout=600 install -y -q)

apt_install() {  # PACKAGE: install it, updating the package lists first only when needed
    echo "bench/setup.sh: installing Debian's $1" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${APT[@]}" "$1" >/dev/null 2>&1 || {
        apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
        "${APT[@]}" "$1" >/dev/null
    }
}

command -v puppet >/dev/null || apt_install puppet
command -v cf-agent >/dev/null || apt_install cfengine3

if [[ "${TRANSOM_BENCH_SKIP_ANSIBLE:-0}" != 1 && ! -x "$ANSIBLE_VENV/bin/ansible-playbook" ]]; then
    echo "bench/setup.sh: installing ansible-core $ANSIBLE_CORE_VERSION into $ANSIBLE_VENV" >&2
    "$PYTHON" -m venv "$ANSIBLE_VENV"
    "$ANSIBLE_VENV/bin/pip" install --quiet "ansible-core==$ANSIBLE_CORE_VERSION"
fi
