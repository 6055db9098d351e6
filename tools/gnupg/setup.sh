#!/usr/bin/env bash
# Debian's GnuPG (gpg, gpg-agent) for the tests that sign Git commits for Flux's
# source-controller to verify (tests/integration/flux/test_provenance.py). Skipped when installed.
set -euo pipefail
if command -v gpg >/dev/null 2>&1 && command -v gpg-agent >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "gpg is missing: run as root, or: sudo apt-get install gnupg" >&2
    exit 1
fi
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends gnupg
