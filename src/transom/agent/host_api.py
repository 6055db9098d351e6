"""What an Assignment's worker asks of the API server, in its host's namespace: status
writes, Events, and the Secrets its resources reference."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from transom.agent import status as st
from transom.agent.secrets import SecretCache
from transom.api.assignment import AssignmentStatus
from transom.api.names import host_namespace
from transom.kube.client import NETWORK_ERRORS, ApiError, Kube
from transom.kube.kinds import ASSIGNMENTS, EVENTS

log = logging.getLogger(__name__)


class KubeHostApi:
    def __init__(self, kube: Kube, host: str, secrets: SecretCache) -> None:
        self.kube = kube
        self.host = host
        self.namespace = host_namespace(host)
        self.secrets = secrets

    async def write_status(self, name: str, status: AssignmentStatus) -> None:
        await self.kube.patch(
            ASSIGNMENTS.path(self.namespace, name, "status"), {"status": st.wire(status)}
        )

    async def record_event(
        self, about: dict[str, Any], *, warning: bool, reason: str, action: str, note: str
    ) -> None:
        body = st.event(self.host, about, warning=warning, reason=reason, action=action, note=note)
        try:
            await self.kube.create(EVENTS.path(self.namespace), body)
        except ApiError as exc:
            log.warning("event not recorded: %s", exc)
        except NETWORK_ERRORS as exc:
            log.debug("event not recorded: %s", exc)

    async def refresh_secrets(self, names: Collection[str]) -> None:
        await self.secrets.refresh(self.kube, self.namespace, names)
