"""Rebooting a Linux host, and telling one boot from the next."""

from __future__ import annotations

import subprocess
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class PosixRebooter:
    """engine.reboot.Rebooter for systemd hosts."""

    def boot_id(self) -> str:
        return BOOT_ID.read_text().strip()

    def reboot(self, reason: str) -> None:
        subprocess.run(["systemctl", "reboot", f"--message={reason}"], check=True)
