"""The posix backend: Linux hosts, and every provider test that can run here."""

from __future__ import annotations

from typing import Any

from transom.engine.provider import Provider
from transom.providers.posix.archive import ArchiveProvider
from transom.providers.posix.command import CommandProvider
from transom.providers.posix.environment import EnvironmentVariableProvider
from transom.providers.posix.files import DirectoryProvider, FileProvider


def posix_providers(cache_dir: str | None = None) -> dict[str, Provider[Any]]:
    """kind -> provider for the engine; ``cache_dir`` holds downloaded archives."""
    providers: list[Provider[Any]] = [
        FileProvider(),
        DirectoryProvider(),
        ArchiveProvider(cache_dir),
        EnvironmentVariableProvider(),
        CommandProvider(),
    ]
    return {p.kind: p for p in providers}


__all__ = ["posix_providers"]
