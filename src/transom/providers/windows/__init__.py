"""Windows providers. Every one reaches the OS only through a ``WindowsFacade``:
``providers(Win32Facade())`` on a host, ``providers(SimulatedFacade())`` in tests."""

from __future__ import annotations

from typing import Any

from transom.engine.provider import Provider
from transom.providers.posix.archive import ArchiveProvider
from transom.providers.windows.command import CommandProvider
from transom.providers.windows.dsc import DscResourceProvider
from transom.providers.windows.facade import WindowsFacade
from transom.providers.windows.files import DirectoryProvider, FileProvider
from transom.providers.windows.firewall import FirewallRuleProvider
from transom.providers.windows.iis import IisAppPoolProvider, IisSiteProvider
from transom.providers.windows.packages import MsiPackageProvider, WindowsFeatureProvider
from transom.providers.windows.registry import (
    EnvironmentVariableProvider,
    RegistryKeyProvider,
    RegistryValueProvider,
)
from transom.providers.windows.service import ServiceProvider
from transom.providers.windows.tasks import ScheduledTaskProvider
from transom.providers.windows.win32 import Win32Facade

_PROVIDERS = (
    FileProvider,
    DirectoryProvider,
    EnvironmentVariableProvider,
    RegistryKeyProvider,
    RegistryValueProvider,
    ServiceProvider,
    WindowsFeatureProvider,
    MsiPackageProvider,
    ScheduledTaskProvider,
    IisAppPoolProvider,
    IisSiteProvider,
    FirewallRuleProvider,
    DscResourceProvider,
    CommandProvider,
)


def providers(facade: WindowsFacade) -> dict[str, Provider[Any]]:
    """Every Windows provider, by resource kind (e.g. ``"RegistryValue"``).

    Archive is the portable stdlib provider (zipfile, atomic rename) that posix uses too: it
    works on the real file system, not through the facade, so the simulation does not model it.
    """
    out: dict[str, Provider[Any]] = {cls.kind: cls(facade) for cls in _PROVIDERS}
    out[ArchiveProvider.kind] = ArchiveProvider()
    return out


def windows_providers() -> dict[str, Provider[Any]]:
    """The providers over the real OS, for a one-shot ``transom apply``. A long-running agent
    builds one Win32Facade and shares it with WindowsNotifier and WindowsRebooter instead."""
    return providers(Win32Facade())


__all__ = ["WindowsFacade", "providers", "windows_providers"]
