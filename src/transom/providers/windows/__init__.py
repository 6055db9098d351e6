"""Windows providers. Every one reaches the OS only through a ``WindowsFacade``:
``providers(Win32Facade())`` on a host, ``providers(SimulatedFacade())`` in tests."""

from __future__ import annotations

from transom.api.resources import Platform
from transom.engine.provider import Setup
from transom.providers import Providers, providers_for
from transom.providers.windows.facade import WindowsFacade
from transom.providers.windows.win32 import Win32Facade


def providers(facade: WindowsFacade) -> Providers:
    """Every Windows provider, by resource kind (e.g. ``"RegistryValue"``), as the resource
    catalog lists them.

    Archive is the portable stdlib provider (zipfile, atomic rename) that posix uses too: it
    works on the real file system, not through the facade, so the simulation does not model it.
    """
    return providers_for(Platform.WINDOWS, Setup(facade=facade))


def windows_providers() -> Providers:
    """The providers over the real OS, for a one-shot ``transom apply``. A long-running agent
    builds one Win32Facade and shares it with WindowsNotifier and WindowsRebooter instead."""
    return providers(Win32Facade())


__all__ = ["WindowsFacade", "providers", "windows_providers"]
