"""win32.py must import on any OS: its Windows-only modules load on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = """
import importlib.util, sys
assert importlib.util.find_spec("win32api") is None, "pywin32 is installed"
from transom.providers.windows.win32 import Win32Facade
from transom.providers.windows import providers
from transom.providers.windows.powershell import PowerShellHost
facade = Win32Facade(PowerShellHost(["unused"]))
assert set(providers(facade)) >= {"Service", "RegistryValue", "IisSite", "DscResource"}
try:
    facade.reg_key_exists("HKLM", "SOFTWARE", 64)
except ModuleNotFoundError as exc:
    print("lazy:", exc.name)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="checks the non-Windows import path")
def test_imports_without_pywin32() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lazy: winreg"
