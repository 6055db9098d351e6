"""What a probe runs with on this host, and how it says it failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from transom.engine.policy import HostPolicy
from transom.providers.windows.facade import WindowsFacade


class ProbeError(Exception):
    """The attempt failed; the message says why, for the Assignment's status."""


@dataclass
class ProbeContext:
    """One probing session (one apply): the host's policy, the Windows facade (None on other
    hosts), when the apply finished, and what probes remember between attempts."""

    policy: HostPolicy
    facade: WindowsFacade | None
    #: Wall-clock time (epoch seconds) the apply finished: the eventLog probe's "since".
    applied_at: float
    #: Service probe name -> monotonic time it was first seen running, without a stop since.
    running_since: dict[str, float] = field(default_factory=dict)
