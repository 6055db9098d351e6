"""Secrets a Configuration references are copied into each host's namespace, and only those
keys: a host can read nothing else of the cluster."""

from __future__ import annotations

from typing import Any

from transom.api import names
from transom.kube.client import Kube
from transom.kube.kinds import SECRETS


def rewrite_refs(resources: list[dict[str, Any]], config_namespace: str) -> dict[str, set[str]]:
    """Point every secretKeyRef at its copy in the host namespace, in place. Returns the
    referenced secrets and keys, by original name."""
    wanted: dict[str, set[str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if isinstance(ref, dict) and "name" in ref and "key" in ref:
                wanted.setdefault(ref["name"], set()).add(ref["key"])
                ref["name"] = names.copied_secret_name(config_namespace, ref["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resources)
    return wanted


class MissingSecretError(Exception):
    pass


async def copy_secrets(
    kube: Kube,
    wanted: dict[str, set[str]],
    config_namespace: str,
    host_namespace: str,
    owner: dict[str, Any] | None,
) -> None:
    for name, keys in sorted(wanted.items()):
        source = await kube.get_or_none(SECRETS.path(config_namespace, name))
        if source is None:
            raise MissingSecretError(f"Secret {config_namespace}/{name} not found")
        data = source.get("data") or {}
        missing = sorted(k for k in keys if k not in data)
        if missing:
            raise MissingSecretError(
                f"Secret {config_namespace}/{name} has no key {', '.join(missing)}"
            )
        copy_name = names.copied_secret_name(config_namespace, name)
        meta: dict[str, Any] = {
            "name": copy_name,
            "namespace": host_namespace,
            "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY},
        }
        if owner is not None:
            # Deleted with the Assignment by the garbage collector.
            meta["ownerReferences"] = [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                }
            ]
        await kube.apply(
            SECRETS.path(host_namespace, copy_name),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "type": "Opaque",
                "data": {k: data[k] for k in sorted(keys)},
            },
        )
