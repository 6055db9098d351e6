"""The posix backend: Linux hosts, and every provider test that can run here."""

from __future__ import annotations

from transom.api.resources import Platform
from transom.engine.provider import Setup
from transom.providers import Providers, providers_for


def posix_providers(cache_dir: str | None = None) -> Providers:
    """kind -> provider for the engine; ``cache_dir`` holds downloaded archives."""
    return providers_for(Platform.POSIX, Setup(cache_dir=cache_dir))


__all__ = ["posix_providers"]
