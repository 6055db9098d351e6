"""Approval: a person's go-ahead for one partition of one Configuration generation.

`transom approve` creates one in the Configuration's namespace. Who may is RBAC's call (the
transom-operator role may create Approvals, transom-viewer may not); who did is recorded in
``spec.approver``, which the admission policy `transom-approval-identity` (api/admission.py)
requires to be the requesting user as the apiserver authenticated them, so no client can
approve in someone else's name. The spec cannot change once written: a new decision is a new
object (and a deleted one withdraws an approval not yet acted on).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from transom.api import names
from transom.api.wire import Spec, Status, cel, observed_generation_field


class ApprovalSpec(Spec):
    model_config = ConfigDict(
        json_schema_extra=cel({"rule": "self == oldSelf", "message": "an Approval cannot change"})
    )

    configuration: str = Field(
        description="Name of the Configuration, in this namespace.", max_length=253
    )
    generation: int = Field(description="The Configuration generation approved.", ge=1)
    partition: str = Field(description="The partition approved.", max_length=63)
    approver: str = Field(
        description="Who approves: must be the requesting user (checked at admission).",
        min_length=1,
        max_length=512,
    )
    reason: str = Field(default="", description="Why, for the record.", max_length=1024)


class ApprovalStatus(Status):
    # Written by nobody: an Approval is a record, acted on through the Configuration's status.
    observed_generation: int = observed_generation_field()


class Approval(Spec):
    """A recorded approval of one partition of one Configuration generation."""

    model_config = ConfigDict(extra="ignore")

    spec: ApprovalSpec
    status: ApprovalStatus = Field(default_factory=ApprovalStatus)


def approval_name(configuration: str, generation: int, partition: str) -> str:
    """One Approval per (Configuration, generation, partition): a second one is a conflict."""
    return names.shorten(f"{configuration}.g{generation}.{partition}", names.MAX_NAME)
