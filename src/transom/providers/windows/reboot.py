"""Rebooting a Windows host, and telling one boot from the next (engine.reboot.Rebooter)."""

from __future__ import annotations

from transom.providers.windows.facade import WindowsFacade


class WindowsRebooter:
    def __init__(self, os: WindowsFacade) -> None:
        self._os = os

    def boot_id(self) -> str:
        return self._os.boot_id()

    def reboot(self, reason: str) -> None:
        self._os.reboot(reason)
