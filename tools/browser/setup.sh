#!/usr/bin/env bash
# Debian's Chromium for the fleet view's browser tests (Playwright drives it through
# executable_path; Playwright never downloads a browser of its own). Skipped when installed.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing: run as root, or: sudo apt-get install chromium" >&2
    exit 1
fi
apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium
