"""`transom` as the Windows lane runs it: the real CLI and agent, with one accommodation for
what Wine cannot represent, and only that.

Wine keeps no owner or DACL for files: it derives both from the Unix mode, so every file is
owned by, and writable by, the Wine user (S-1-5-21-0-0-0-1000, shown as VM\\<user>) whatever
SetNamedSecurityInfo set. The agent refuses a state directory that anyone but SYSTEM or
Administrators may change, so under Wine it would never start. Here that one account counts
as the agent's own (on Windows the agent runs as SYSTEM, or as an elevated administrator,
whose files Administrators own); every other writer found is still refused. The privacy of
the state directory itself is tested on real Windows and on the simulated facade.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from transom.cli.main import main
from transom.providers.windows.win32 import Win32Facade

WINE_USER_SID = "S-1-5-21-0-0-0-1000"


def _wine_user() -> set[str]:
    sec: Any = importlib.import_module("win32security")
    name, domain, _ = sec.LookupAccountSid(None, sec.ConvertStringSidToSid(WINE_USER_SID))
    account = f"{domain}\\{name}"
    return {account, f"owner {account}"}


def _patch() -> None:
    original = Win32Facade.untrusted_writers
    ours = _wine_user()

    def untrusted_writers(self: Win32Facade, path: str) -> list[str]:
        return [w for w in original(self, path) if w not in ours]

    Win32Facade.untrusted_writers = untrusted_writers  # type: ignore[method-assign]


if __name__ == "__main__":
    _patch()
    sys.exit(main())
