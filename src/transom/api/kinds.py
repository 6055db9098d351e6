"""A kind's name and where the API serves it: the one description of a kind, read by the CRD
generator and by the API adapter alike."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from transom.api.wire import GROUP, VERSION


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    namespaced: bool = True
    #: The kind's own name ("Configuration"); needed to find a kind from an object.
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        if subresource:
            base += f"/{subresource}"
        return base


CONFIGURATIONS = Kind(GROUP, VERSION, "configurations", kind="Configuration")
ASSIGNMENTS = Kind(GROUP, VERSION, "assignments", kind="Assignment")
HOSTS = Kind(GROUP, VERSION, "hosts", namespaced=False, kind="Host")
PREVIEWS = Kind(GROUP, VERSION, "previews", kind="Preview")
HOST_PREVIEWS = Kind(GROUP, VERSION, "hostpreviews", kind="HostPreview")
APPROVALS = Kind(GROUP, VERSION, "approvals", kind="Approval")
