"""What the agent tells the cluster about its host once at start: OS, agent version,
identity and namespace, in Host status."""

from __future__ import annotations

import logging
import platform

from transom import __version__
from transom.api.names import host_namespace, host_user
from transom.kube.backoff import Backoff
from transom.kube.client import NETWORK_ERRORS, ApiError, Kube
from transom.kube.kinds import HOSTS

log = logging.getLogger(__name__)
#: The report is not urgent: retry slowly while the API is away.
BACKOFF_MAX_SECONDS = 300.0


def host_info() -> dict[str, str]:
    if platform.system() == "Windows":
        release, version, _, _ = platform.win32_ver()
        return {"osName": f"Windows {release}".strip(), "osBuild": version}
    try:
        name = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        name = platform.system()
    return {"osName": name, "osBuild": platform.release()}


async def report_host(kube: Kube, host: str) -> None:
    """Write the host's facts into its Host status, retrying until it is written."""
    body = {
        "status": {
            **host_info(),
            "agentVersion": __version__,
            "identity": host_user(host),
            "namespace": host_namespace(host),
        }
    }
    backoff = Backoff(BACKOFF_MAX_SECONDS)
    while True:
        try:
            await kube.patch(HOSTS.path(name=host, subresource="status"), body)
            return
        except (ApiError, *NETWORK_ERRORS) as exc:
            log.info("host status not written yet: %s", exc)
            await backoff.sleep()
