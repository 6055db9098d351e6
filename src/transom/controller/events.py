"""Kubernetes Events (events.k8s.io/v1) for what the controller does."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from transom.api import names
from transom.kube.client import ApiError, Kube
from transom.kube.kinds import EVENTS

log = logging.getLogger(__name__)
REPORTING_CONTROLLER = "transom.dev/controller"

#: events.k8s.io/v1 limits note to 1 kB, counted in bytes.
NOTE_MAX_BYTES = 1024

NORMAL = "Normal"
WARNING = "Warning"


async def emit(
    kube: Kube,
    regarding: dict[str, Any],
    *,
    type_: str,
    reason: str,
    action: str,
    note: str,
    instance: str = "transom-controller",
) -> None:
    meta = regarding["metadata"]
    namespace = meta.get("namespace") or "default"
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {
            "name": names.event_name(meta["name"], secrets.token_hex(8)),
            "namespace": namespace,
        },
        "eventTime": now,
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance,
        "action": action,
        "reason": reason,
        "type": type_,
        "note": _note(note),
        "regarding": {
            "apiVersion": regarding.get("apiVersion", ""),
            "kind": regarding.get("kind", ""),
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""),
        },
    }
    try:
        await kube.create(EVENTS.path(namespace), body)
    except ApiError as e:  # events are best effort: never fail a reconcile over one
        log.warning("event %s on %s not recorded: %s", reason, meta["name"], e)


def _note(note: str) -> str:
    """At most NOTE_MAX_BYTES of UTF-8, cut at a character boundary."""
    return note.encode()[:NOTE_MAX_BYTES].decode(errors="ignore")
