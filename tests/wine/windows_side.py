"""Run by Windows CPython in the lane (tests/wine/test_agent.py): what the host looks like
through the Windows APIs themselves, and out-of-band changes timed until the agent undoes
them. Prints one JSON document."""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

# Windows-only module, loaded by name: this file is type-checked on Linux too.
winreg: Any = importlib.import_module("winreg")

VIEWS = {64: winreg.KEY_WOW64_64KEY, 32: winreg.KEY_WOW64_32KEY}
ENVIRONMENT = r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment"


def reg_get(key: str, name: str, view: int) -> Any:
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key, 0, winreg.KEY_READ | VIEWS[view]) as h:
            return winreg.QueryValueEx(h, name)[0]
    except FileNotFoundError:
        return None


def reg_set(key: str, name: str, view: int, kind: int, value: Any) -> None:
    access = winreg.KEY_SET_VALUE | VIEWS[view]
    with winreg.CreateKeyEx(winreg.HKEY_LOCAL_MACHINE, key, 0, access) as h:
        winreg.SetValueEx(h, name, 0, kind, value)


def state(key: str, path: str, env: str) -> dict[str, Any]:
    content = Path(path).read_bytes().decode() if Path(path).exists() else None
    return {
        "enabled64": reg_get(key, "Enabled", 64),
        "mode32": reg_get(key, "Mode", 32),
        "mode64": reg_get(key, "Mode", 64),
        "content": content,
        "env": reg_get(ENVIRONMENT, env, 64),
    }


def _has(path: str, want: str) -> bool:
    try:
        return Path(path).read_bytes() == want.encode()
    except OSError:  # not there yet, or the agent is writing it
        return False


def until(check: Any, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            return -1.0
        time.sleep(0.002)
    return time.perf_counter() - start


def drift(key: str, path: str, want: str, rounds: int) -> dict[str, list[float]]:
    """Change a registry value, then delete a file; seconds until each is back, per round."""
    out: dict[str, list[float]] = {"registry": [], "file": []}
    for _ in range(rounds):
        time.sleep(1.0)  # the agent's previous correction is over
        reg_set(key, "Enabled", 64, winreg.REG_DWORD, 0)
        out["registry"].append(until(lambda: reg_get(key, "Enabled", 64) == 1))
        time.sleep(1.0)
        Path(path).unlink()
        out["file"].append(until(lambda: _has(path, want)))
    return out


if __name__ == "__main__":
    command, key, path, extra = sys.argv[1:5]
    if command == "state":
        print(json.dumps(state(key, path, extra)))
    else:
        print(json.dumps(drift(key, path, extra, int(sys.argv[5]))))
