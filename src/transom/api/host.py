"""Host: one Windows (or posix) machine; its labels are what Configurations select."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from transom.api.conditions import Condition
from transom.api.wire import Spec, Status, observed_generation_field

#: The host's heartbeat, chosen for 10,000 hosts per apiserver (docs/scale.md): a Lease renewed
#: every minute is 167 writes a second for the whole fleet at idle (kubelets' 10 s would be
#: 1,000); three renewal periods without one and the host counts as offline.
HOST_LEASE_RENEW_SECONDS = 60.0
HOST_LEASE_DURATION_SECONDS = 180


class HostSpec(Spec):
    allow_reenrollment: bool = Field(
        default=False,
        description="Let a new enrollment take over this name while the host is still live.",
    )
    paused: bool = Field(default=False, description="Hold new Assignments for this host.")


class AuditCheckpoint(Status):
    """The latest signed audit-chain checkpoint: the hub's witness of the host's log."""

    sequence: int = Field(description="Sequence number of the head record.")
    head_hash: str = Field(description="SHA-256 of the head record, hex.")
    time: str = Field(description="When signed (RFC 3339).")
    signature: str = Field(description="Signature over sequence and head hash, base64.")
    public_key: str = Field(default="", description="The agent's audit public key, PEM.")


class HostStatus(Status):
    observed_generation: int = observed_generation_field()
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready reflects the agent's heartbeat.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    namespace: str = Field(default="", description="The host's own namespace.")
    identity: str = Field(default="", description="Kubernetes user the agent acts as.")
    os_name: str = Field(default="", description="Operating system, e.g. Windows Server 2016.")
    os_build: str = Field(default="", description="OS build, e.g. 10.0.14393.")
    agent_version: str = Field(default="", description="Transom agent version.")
    last_heartbeat_time: str = Field(default="", description="Last Lease renewal seen.")
    audit_checkpoint: AuditCheckpoint | None = Field(
        default=None, description="Latest signed audit checkpoint."
    )


class Host(Spec):
    """A machine managed by a Transom agent."""

    model_config = ConfigDict(extra="ignore")

    spec: HostSpec = Field(default_factory=HostSpec)
    status: HostStatus = Field(default_factory=HostStatus)
