"""Secret values for the engine, read from the host's own namespace.

The controller copies every Secret an Assignment references into the host namespace and
rewrites the references to the copies' names, so the agent reads by name from its namespace
and from nowhere else. Values live in memory only: the journal keeps references, never values.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from transom.api.conditions import SECRET_NOT_FOUND
from transom.api.resources import Resource
from transom.engine.provider import ProviderError
from transom.kube.client import Kube
from transom.kube.kinds import SECRETS


def secret_names(resources: Iterable[Resource]) -> set[str]:
    return {ref.name for r in resources for ref in r.properties.secret_refs()}


class SecretCache:
    """The engine's SecretResolver: values fetched before a run, kept for offline runs."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, bytes]] = {}

    async def refresh(self, kube: Kube, namespace: str, names: Iterable[str]) -> None:
        """Fetch these Secrets; one that is gone is forgotten, so its references fail."""
        for name in sorted(set(names)):
            obj = await kube.get_or_none(SECRETS.path(namespace, name))
            if obj is None:
                self._data.pop(name, None)
                continue
            self._data[name] = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}

    def resolve(self, name: str, key: str) -> bytes:
        try:
            return self._data[name][key]
        except KeyError:
            raise ProviderError(
                f"secret {name} has no key {key} in the host namespace"
                if name in self._data
                else f"secret {name} not found in the host namespace",
                reason=SECRET_NOT_FOUND,
            ) from None
