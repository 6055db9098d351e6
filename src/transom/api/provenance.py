"""Provenance: who authorized a Configuration generation, as the controller found it.

Carried in each Assignment's ``spec.source.provenance`` (so the host sees what it applies and
why), copied into every audit record of that generation, and shown by ``transom trace``.
The rule for "verified" lives here once (``unverified``): the controller enforces it for a
Configuration's ``spec.requireVerifiedSource``, the agent for its host policy's
``requireVerifiedSource``. docs/audit.md says what each field proves and what it does not.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from transom.api.wire import Spec

#: Flux's kustomize-controller applies with this server-side-apply field manager.
FLUX_FIELD_MANAGER = "kustomize-controller"
REQUIRE_VERIFIED_SOURCE_DOC = (
    "Roll a generation out only if source-controller verified its commit's signature and "
    "Flux's kustomize-controller alone wrote the spec; otherwise the Configuration is Stalled "
    "(UnverifiedSource) and no host sees the generation."
)
#: Assignment Stalled reason (agent) and Configuration Stalled reason (controller).
UNVERIFIED_SOURCE = "UnverifiedSource"


class Verification(StrEnum):
    #: source-controller's SourceVerified condition is True and names this very commit.
    VERIFIED = "Verified"
    #: The GitRepository has no spec.verify: nobody checked a signature.
    NOT_CONFIGURED = "NotConfigured"
    #: SourceVerified is False: Flux refused the commit's signature.
    FAILED = "Failed"
    #: No Flux source to ask (not applied by Flux, not a GitRepository, or it moved on to
    #: another commit before the controller looked).
    UNKNOWN = "Unknown"


class Provenance(Spec):
    """Who authorized one generation: the commit, its signature as Flux judged it, and the
    identity that wrote the Configuration into the cluster."""

    git_repository: str = Field(
        default="", description="namespace/name of the Flux GitRepository.", max_length=317
    )
    commit: str = Field(default="", description="Commit SHA the revision names.", max_length=64)
    author: str = Field(default="", description="Commit author, 'Name <email>'.", max_length=512)
    author_time: str = Field(default="", description="Author date, RFC 3339.", max_length=64)
    committer: str = Field(default="", description="Committer, 'Name <email>'.", max_length=512)
    commit_time: str = Field(default="", description="Commit date, RFC 3339.", max_length=64)
    signing_key: str = Field(
        default="",
        description="OpenPGP fingerprint (or key ID) of the commit's signature; empty if unsigned.",
        max_length=128,
    )
    commit_error: str = Field(
        default="",
        description="Why the commit object could not be read (then author fields are empty).",
        max_length=512,
    )
    verification: Verification = Field(
        default=Verification.UNKNOWN,
        description="Verified, NotConfigured, Failed or Unknown: source-controller's verdict.",
    )
    verification_mode: str = Field(
        default="",
        description="The GitRepository's status.sourceVerificationMode (HEAD, Tag, TagAndHEAD).",
        max_length=32,
    )
    verified_key: str = Field(
        default="", description="Key ID source-controller says verified the commit.", max_length=128
    )
    verification_message: str = Field(
        default="", description="source-controller's SourceVerified message.", max_length=1024
    )
    service_account: str = Field(
        default="",
        description="The Kustomization's spec.serviceAccountName: the identity Flux impersonated "
        "to apply (empty: kustomize-controller's own).",
        max_length=253,
    )
    requested_at: str = Field(
        default="",
        description="The Kustomization's reconcile.fluxcd.io/requestedAt (a requested reconcile).",
        max_length=128,
    )
    writer: str = Field(
        default="",
        description="Field manager that last wrote the Configuration's spec (managedFields).",
        max_length=128,
    )
    writer_operation: str = Field(
        default="", description="Its operation: Apply or Update.", max_length=16
    )
    write_time: str = Field(default="", description="When it wrote, RFC 3339.", max_length=64)
    flux_applied: bool = Field(
        default=False,
        description="Every spec field is owned by kustomize-controller's server-side apply and "
        "the object carries the Kustomization's labels.",
    )


def unverified(provenance: Provenance | None) -> str:
    """Why this generation is not a Flux-verified commit applied by Flux ("" when it is)."""
    if provenance is None:
        return "the generation carries no provenance (it was not applied through Flux)"
    problems: list[str] = []
    if provenance.verification is not Verification.VERIFIED:
        commit = provenance.commit[:12] or "(unknown)"
        detail = f": {provenance.verification_message}" if provenance.verification_message else ""
        problems.append(
            f"commit {commit} was not signature-verified by Flux "
            f"(verification {provenance.verification.value}{detail})"
        )
    if not provenance.flux_applied:
        writer = provenance.writer or "(unknown)"
        op = f" ({provenance.writer_operation})" if provenance.writer_operation else ""
        problems.append(
            f"the Configuration was last written by {writer}{op}, "
            f"not by Flux's {FLUX_FIELD_MANAGER} alone"
        )
    return "; ".join(problems)
