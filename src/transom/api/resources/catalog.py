"""Every resource type, in one place: its model, and on each platform the provider that
implements it (on Windows also the facade parts that provider reaches the OS through).

Adding a type is one entry in ``TYPES`` plus the classes it names; nothing else lists types.
Classes are named as ``module:Class`` and imported on first use, so a posix run never imports
a Windows model, and a provider module is imported only by the agent of its platform (this
layer names providers but never imports them).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transom.api.resources.base import ResourceProperties


class Platform(StrEnum):
    POSIX = "posix"
    WINDOWS = "windows"


@dataclass(frozen=True)
class ResourceType:
    """One resource type: its name, model and providers."""

    #: Type name as users write it in docs and results, e.g. ``File``.
    kind: str
    #: The properties model, ``module:Class``.
    model: str
    #: Platform -> the provider class implementing the type there, ``module:Class``.
    providers: Mapping[Platform, str]
    #: The ``WindowsFacade`` parts (Protocols of providers/windows/facade.py) the Windows
    #: provider calls; both facades implement every one.
    facade: tuple[str, ...] = field(default=())

    @property
    def member(self) -> str:
        """The member a resource sets in a document: the kind in lowerCamelCase."""
        return self.kind[0].lower() + self.kind[1:]

    @property
    def platforms(self) -> frozenset[Platform]:
        return frozenset(self.providers)

    def load_model(self) -> type[ResourceProperties]:
        cls: type[ResourceProperties] = load(self.model)
        return cls


def _type(
    kind: str,
    model: str,
    *,
    posix: str | None = None,
    windows: str | None = None,
    facade: tuple[str, ...] = (),
) -> ResourceType:
    """An entry; ``model`` is relative to transom.api.resources, providers to
    transom.providers."""
    providers = {Platform.POSIX: posix, Platform.WINDOWS: windows}
    return ResourceType(
        kind,
        f"transom.api.resources.{model}",
        {p: f"transom.providers.{ref}" for p, ref in providers.items() if ref is not None},
        facade,
    )


TYPES: tuple[ResourceType, ...] = (
    _type(
        "File",
        "files:FileProperties",
        posix="posix.files:FileProvider",
        windows="windows.files:FileProvider",
        facade=("Files",),
    ),
    _type(
        "Directory",
        "files:DirectoryProperties",
        posix="posix.files:DirectoryProvider",
        windows="windows.files:DirectoryProvider",
        facade=("Files",),
    ),
    # Windows runs the portable stdlib provider (zipfile, atomic rename) on the real file
    # system, not through the facade.
    _type(
        "Archive",
        "archive:ArchiveProperties",
        posix="posix.archive:ArchiveProvider",
        windows="posix.archive:ArchiveProvider",
    ),
    _type(
        "EnvironmentVariable",
        "environment:EnvironmentVariableProperties",
        posix="posix.environment:EnvironmentVariableProvider",
        windows="windows.registry:EnvironmentVariableProvider",
        facade=("Registry", "System"),
    ),
    _type(
        "Command",
        "command:CommandProperties",
        posix="posix.command:CommandProvider",
        windows="windows.command:CommandProvider",
        facade=("PowerShellOps",),
    ),
    _type(
        "Service",
        "windows:ServiceProperties",
        windows="windows.service:ServiceProvider",
        facade=("Services",),
    ),
    _type(
        "RegistryKey",
        "windows:RegistryKeyProperties",
        windows="windows.registry:RegistryKeyProvider",
        facade=("Registry",),
    ),
    _type(
        "RegistryValue",
        "windows:RegistryValueProperties",
        windows="windows.registry:RegistryValueProvider",
        facade=("Registry",),
    ),
    _type(
        "WindowsFeature",
        "windows:WindowsFeatureProperties",
        windows="windows.packages:WindowsFeatureProvider",
        facade=("PowerShellOps",),
    ),
    _type(
        "MsiPackage",
        "windows:MsiPackageProperties",
        windows="windows.packages:MsiPackageProvider",
        facade=("Msi", "Files", "System"),
    ),
    _type(
        "ScheduledTask",
        "windows:ScheduledTaskProperties",
        windows="windows.tasks:ScheduledTaskProvider",
        facade=("PowerShellOps",),
    ),
    _type(
        "IisAppPool",
        "windows:IisAppPoolProperties",
        windows="windows.iis:IisAppPoolProvider",
        facade=("PowerShellOps",),
    ),
    _type(
        "IisSite",
        "windows:IisSiteProperties",
        windows="windows.iis:IisSiteProvider",
        facade=("PowerShellOps",),
    ),
    _type(
        "FirewallRule",
        "windows:FirewallRuleProperties",
        windows="windows.firewall:FirewallRuleProvider",
        facade=("PowerShellOps",),
    ),
    _type(
        "DscResource",
        "windows:DscResourceProperties",
        windows="windows.dsc:DscResourceProvider",
        facade=("PowerShellOps",),
    ),
)

BY_MEMBER: dict[str, ResourceType] = {t.member: t for t in TYPES}
BY_KIND: dict[str, ResourceType] = {t.kind: t for t in TYPES}
BY_MODEL: dict[str, ResourceType] = {t.model: t for t in TYPES}


@cache
def load(ref: str) -> Any:
    """The object ``module:name`` names, importing its module."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def for_platform(platform: Platform) -> tuple[ResourceType, ...]:
    return tuple(t for t in TYPES if platform in t.providers)


class Models(Mapping[str, "type[ResourceProperties]"]):
    """member -> model, importing a model's module only when that model is looked up; keys
    and membership need no import."""

    def __getitem__(self, member: str) -> type[ResourceProperties]:
        return BY_MEMBER[member].load_model()

    def __iter__(self) -> Iterator[str]:
        return iter(BY_MEMBER)

    def __len__(self) -> int:
        return len(BY_MEMBER)

    def __contains__(self, member: object) -> bool:
        return member in BY_MEMBER
