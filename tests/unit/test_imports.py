"""Every module of the package imports — on Windows CPython too (the Windows lane runs this
file there), so a posix-only import can never again reach the Windows path unnoticed."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pytest

import transom

# Modules that are a Linux API by nature, imported only where that API is chosen.
LINUX_ONLY = {"transom.providers.posix.inotify": "inotify is a Linux API"}

MODULES = sorted(m.name for m in pkgutil.walk_packages(transom.__path__, "transom."))


def test_the_walk_finds_the_windows_and_agent_modules() -> None:
    assert {"transom.providers.windows.win32", "transom.agent.runner"} <= set(MODULES)


def test_every_module_imports() -> None:
    failed = {}
    for name in MODULES:
        if sys.platform == "win32" and name in LINUX_ONLY:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # report every module that fails, not just the first
            failed[name] = repr(exc)
    assert not failed, failed


@pytest.mark.skipif(sys.platform == "win32", reason="posix only: the Linux-only modules")
def test_linux_only_modules_import_on_linux() -> None:
    for name in LINUX_ONLY:
        importlib.import_module(name)
