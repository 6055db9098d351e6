"""Absolute paths of the system programs Transom runs as SYSTEM.

A bare ``powershell.exe`` is found through the search path, which starts with the current
directory and the PATH a local administrator (or an installer) may have changed: a planted
``msiexec.exe`` would run as SYSTEM. GetSystemDirectoryW reads the kernel's own answer, not an
environment variable a caller could set.
"""

from __future__ import annotations

import ctypes
import ntpath
import os

#: Where Windows is installed when the API is not there (tests on other systems).
_DEFAULT_SYSTEM_DIR = "C:\\Windows\\System32"


def system_dir() -> str:
    """%SystemRoot%\\System32, as GetSystemDirectoryW reports it."""
    if os.name != "nt":
        return _DEFAULT_SYSTEM_DIR
    buffer = ctypes.create_unicode_buffer(260)
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    length = kernel32.GetSystemDirectoryW(buffer, len(buffer))
    return buffer.value if 0 < length < len(buffer) else _DEFAULT_SYSTEM_DIR


def system32(*parts: str) -> str:
    return ntpath.join(system_dir(), *parts)


def powershell_exe() -> str:
    """Windows PowerShell 5.1 (not pwsh: Server 2016 ships only this one)."""
    return system32("WindowsPowerShell", "v1.0", "powershell.exe")  # privileged-ok: absolute


def msiexec_exe() -> str:
    return system32("msiexec.exe")  # privileged-ok: joined to System32


def shutdown_exe() -> str:
    return system32("shutdown.exe")  # privileged-ok: joined to System32
