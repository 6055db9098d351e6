"""Forward rollout outcomes to Flux's notification-controller, so existing Alerts (Slack,
Teams, ...) report host failures and drift corrections.

notification-controller accepts events only about Flux kinds (an Alert's eventSources list
Flux kinds), so the event's involved object is the Kustomization that applied the
Configuration; Configurations not applied by Flux have none and are not forwarded. Metadata
keys survive only under the involved object's API group or event.toolkit.fluxcd.io/.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import aiohttp

from transom.api import names

log = logging.getLogger(__name__)

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
REPORTING_CONTROLLER = "transom-controller"
INFO = "info"
ERROR = "error"


def event(
    configuration: dict[str, Any],
    *,
    severity: str,
    reason: str,
    message: str,
    revision: str,
    instance: str = "transom-controller",
) -> dict[str, Any] | None:
    """The event body, or None when the Configuration was not applied by a Kustomization."""
    meta = configuration["metadata"]
    labels = meta.get("labels") or {}
    ks_name = labels.get(names.FLUX_KUSTOMIZATION_NAME)
    if not ks_name:
        return None
    ks_namespace = labels.get(names.FLUX_KUSTOMIZATION_NAMESPACE, meta.get("namespace", ""))
    metadata = {
        f"{KUSTOMIZE_GROUP}/transom-configuration": f"{meta.get('namespace')}/{meta['name']}",
        f"{KUSTOMIZE_GROUP}/transom-generation": str(meta.get("generation", "")),
    }
    if revision:
        metadata[f"{KUSTOMIZE_GROUP}/revision"] = revision
        # Flux's commit-status providers read this key.
        metadata["event.toolkit.fluxcd.io/commit"] = revision
    return {
        "involvedObject": {
            "apiVersion": f"{KUSTOMIZE_GROUP}/v1",
            "kind": "Kustomization",
            "name": ks_name,
            "namespace": ks_namespace,
        },
        "severity": severity,
        "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": message[:4096],
        "reason": reason,
        "metadata": metadata,
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": instance,
    }


class Notifier:
    """POSTs events to notification-controller's events address, e.g.
    http://notification-controller.flux-system.svc.cluster.local./"""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sent = 0

    async def post(self, body: dict[str, Any]) -> None:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.post(self.address, json=body) as resp,
            ):
                if resp.status >= 300:
                    log.warning("notification-controller answered %s", resp.status)
                    return
            self.sent += 1
        except (aiohttp.ClientError, TimeoutError) as e:  # alerts are best effort
            log.warning("event not forwarded to %s: %s", self.address, e)
