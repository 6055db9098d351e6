"""`transom approve`'s write: an Approval of one partition of the Configuration's current
generation, in the approver's own name (admission refuses any other name; RBAC decides who
may create one at all). The controller reads Approvals in `gates.approvals`."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from transom.api.approval import approval_name
from transom.api.configuration import ConfigurationSpec
from transom.api.gates import Approval as ApprovalMode
from transom.api.wire import API_VERSION
from transom.kube.client import ApiError, Kube, Obj
from transom.kube.kinds import APPROVALS, CONFIGURATIONS, Kind

SELF_SUBJECT_REVIEWS = Kind("authentication.k8s.io", "v1", "selfsubjectreviews", namespaced=False)


class ApprovalError(Exception):
    """Nothing was approved; the message says why and what to do."""


@dataclass(frozen=True)
class Approved:
    configuration: str
    namespace: str
    partition: str
    generation: int
    approver: str


def gated(spec: ConfigurationSpec) -> list[str]:
    """Partitions that need approval, in rollout order."""
    return [p.name for p in spec.rollout.partitions if p.approval is ApprovalMode.MANUAL]


def choose(spec: ConfigurationSpec, approved: set[str], partition: str | None) -> str:
    """The partition to approve: the one asked for, or the first still waiting."""
    needing = gated(spec)
    if not needing:
        raise ApprovalError("no partition of this Configuration has approval: Manual")
    if partition is not None:
        if partition not in needing:
            raise ApprovalError(
                f"partition {partition!r} does not need approval; these do: {', '.join(needing)}"
            )
        return partition
    waiting = [p for p in needing if p not in approved]
    if not waiting:
        raise ApprovalError("every partition needing approval is approved for this generation")
    return waiting[0]


async def whoami(kube: Kube) -> str:
    review = await kube.create(
        SELF_SUBJECT_REVIEWS.path(),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    return str(((review.get("status") or {}).get("userInfo") or {}).get("username", ""))


async def approve(
    kube: Kube, namespace: str, name: str, partition: str | None = None, reason: str = ""
) -> Approved:
    conf = await kube.get_or_none(CONFIGURATIONS.path(namespace, name))
    if conf is None:
        raise ApprovalError(f"no Configuration {namespace}/{name}")
    try:
        spec = ConfigurationSpec.model_validate(conf.get("spec") or {})
    except ValidationError as e:
        raise ApprovalError(f"Configuration {namespace}/{name} is invalid: {e}") from None
    generation = int(conf["metadata"].get("generation") or 1)
    approved = {
        str(r.get("partition"))
        for r in (conf.get("status") or {}).get("approvals") or []
        if r.get("generation") == generation
    }
    chosen = choose(spec, approved, partition)
    approver = await whoami(kube)
    body: Obj = {
        "apiVersion": API_VERSION,
        "kind": "Approval",
        "metadata": {"name": approval_name(name, generation, chosen), "namespace": namespace},
        "spec": {
            "configuration": name,
            "generation": generation,
            "partition": chosen,
            "approver": approver,
            "reason": reason,
        },
    }
    try:
        await kube.create(APPROVALS.path(namespace), body)
    except ApiError as e:
        if e.status == 409:
            existing = await kube.get_or_none(APPROVALS.path(namespace, body["metadata"]["name"]))
            by = ((existing or {}).get("spec") or {}).get("approver", "someone")
            raise ApprovalError(
                f"partition {chosen} of generation {generation} is already approved by {by}"
            ) from None
        if e.status == 403:
            raise ApprovalError(
                f"{approver or 'this identity'} may not approve in namespace {namespace}: "
                f"{e.message} (approving takes the transom-operator role)"
            ) from None
        raise
    return Approved(name, namespace, chosen, generation, approver)
