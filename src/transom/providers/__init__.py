"""The providers of a platform, found through the resource catalog and built on first use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from transom.api.resources import Platform
from transom.api.resources.catalog import BY_KIND, for_platform, load
from transom.engine.provider import Provider, Setup


class Providers(Mapping[str, Provider[Any]]):
    """kind -> provider for one platform. A provider's module is imported, and the provider
    built, when its kind is first looked up: a run of Files imports no other provider."""

    def __init__(self, platform: Platform, setup: Setup) -> None:
        self.platform = platform
        self.setup = setup
        self._kinds = tuple(t.kind for t in for_platform(platform))
        self._built: dict[str, Provider[Any]] = {}

    def __getitem__(self, kind: str) -> Provider[Any]:
        provider = self._built.get(kind)
        if provider is None:
            if kind not in self._kinds:
                raise KeyError(kind)
            cls: type[Provider[Any]] = load(BY_KIND[kind].providers[self.platform])
            provider = self._built[kind] = cls.create(self.setup)
        return provider

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds


def providers_for(platform: Platform, setup: Setup | None = None) -> Providers:
    return Providers(platform, setup or Setup())
