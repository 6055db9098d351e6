"""What the controller reads about a generation's origin: managedFields, source-controller's
verdict, the commit object (authenticated by its hash) and its signature's issuer."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transom.api.provenance import FLUX_FIELD_MANAGER, Provenance, Verification, unverified
from transom.controller.provenance import (
    commit_facts,
    commit_of,
    fetch_commit,
    signature_issuer,
    spec_writer,
    verification_of,
)

SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"


def managed(*entries: tuple[str, str, str], status: bool = False) -> dict[str, Any]:
    fields = [
        {"manager": m, "operation": op, "time": t, "fieldsV1": {"f:spec": {}}}
        for m, op, t in entries
    ]
    if status:
        fields.append(
            {
                "manager": "transom",
                "operation": "Update",
                "time": "2026-12-31T00:00:00Z",
                "subresource": "status",
                "fieldsV1": {"f:status": {}},
            }
        )
    return {"metadata": {"name": "web", "managedFields": fields}}


def test_a_spec_written_by_flux_alone_is_flux_only() -> None:
    w = spec_writer(managed((FLUX_FIELD_MANAGER, "Apply", "2026-11-03T10:00:00Z"), status=True))
    assert (w.manager, w.operation, w.flux_only) == (FLUX_FIELD_MANAGER, "Apply", True)


def test_a_kubectl_edit_is_named_as_the_last_writer() -> None:
    w = spec_writer(
        managed(
            (FLUX_FIELD_MANAGER, "Apply", "2026-11-03T10:00:00Z"),
            ("kubectl-edit", "Update", "2026-11-03T11:00:00Z"),
        )
    )
    assert (w.manager, w.operation, w.flux_only) == ("kubectl-edit", "Update", False)


def test_an_edit_in_the_same_second_as_flux_is_not_hidden_behind_flux() -> None:
    w = spec_writer(
        managed(
            ("kubectl-client-side-apply", "Update", "2026-11-03T10:00:00Z"),
            (FLUX_FIELD_MANAGER, "Apply", "2026-11-03T10:00:00Z"),
        )
    )
    assert w.manager == "kubectl-client-side-apply" and not w.flux_only


def test_flux_name_with_an_update_operation_is_not_flux_apply() -> None:
    assert not spec_writer(
        managed((FLUX_FIELD_MANAGER, "Update", "2026-11-03T10:00:00Z"))
    ).flux_only
    assert not spec_writer({"metadata": {"name": "x"}}).flux_only


@pytest.mark.parametrize(
    ("revision", "sha"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"sha1:{SHA}", SHA),
        (f"main/{SHA}", SHA),
        (f"v1.0@sha256:{'ab' * 32}", "ab" * 32),
        ("", ""),
        ("main@sha1:short", ""),
    ],
)
def test_commit_of_a_flux_revision(revision: str, sha: str) -> None:
    assert commit_of(revision) == sha


def repo(verify: bool, condition: dict[str, str] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": "http://git/x.git"}
    if verify:
        spec["verify"] = {"mode": "HEAD", "secretRef": {"name": "keys"}}
    status: dict[str, Any] = {"sourceVerificationMode": "HEAD" if verify else None}
    if condition is not None:
        status["conditions"] = [{"type": "SourceVerified", **condition}]
    return {"spec": spec, "status": status}


def test_verified_only_when_the_condition_names_this_commit() -> None:
    ok = {
        "status": "True",
        "message": f"verified signature of\n\t- commit '{SHA}' with key 'ABCD1234ABCD1234'",
    }
    assert verification_of(repo(True, ok), SHA)[:3] == (
        Verification.VERIFIED,
        "ABCD1234ABCD1234",
        "HEAD",
    )
    other = "f" * 40
    assert verification_of(repo(True, ok), other)[0] is Verification.UNKNOWN
    failed = {"status": "False", "message": f"signature verification of commit '{SHA}' failed"}
    verdict, key, _, message = verification_of(repo(True, failed), SHA)
    assert (verdict, key) == (Verification.FAILED, "") and "failed" in message
    assert verification_of(repo(False, None), SHA)[0] is Verification.NOT_CONFIGURED
    assert verification_of(repo(True, None), SHA)[0] is Verification.UNKNOWN


def raw_commit(author: str = "Ann <ann@example.test> 1762164000 +0100", sig: str = "") -> bytes:
    text = f"tree {'1' * 40}\nauthor {author}\ncommitter Cy <cy@example.test> 1762167600 -0230\n"
    if sig:
        text += "gpgsig " + sig.replace("\n", "\n ") + "\n"
    return (text + "\nchange TLS\n").encode()


def sha1_of(raw: bytes) -> str:
    return hashlib.sha1(b"commit %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()


def test_commit_facts_read_the_commit_and_its_zones() -> None:
    raw = raw_commit()
    facts = commit_facts(raw, sha1_of(raw))
    assert facts.author == "Ann <ann@example.test>"
    assert facts.author_time == "2025-11-03T11:00:00+01:00"
    assert facts.committer == "Cy <cy@example.test>"
    assert facts.commit_time == "2025-11-03T08:30:00-02:30"
    assert facts.signing_key == ""


def test_a_commit_object_that_does_not_hash_to_the_revision_is_refused() -> None:
    raw = raw_commit()
    forged = raw.replace(b"Ann", b"Eve")
    with pytest.raises(ValueError, match="hashes to"):
        commit_facts(forged, sha1_of(raw))


@given(st.text(max_size=400))
def test_signature_issuer_never_raises(text: str) -> None:
    assert isinstance(signature_issuer(text), str)


@given(st.binary(max_size=300))
def test_commit_facts_of_any_bytes_hashed_right_never_raise(raw: bytes) -> None:
    facts = commit_facts(raw, sha1_of(raw))
    assert isinstance(facts.author, str)


needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="Debian's gnupg not installed")


@needs_gpg
def test_signed_commit_fetched_from_git_names_its_signing_key(tmp_path: Path) -> None:
    from transom.dev.gitserver import GitServer
    from transom.dev.signing import SigningKey

    key = SigningKey.create(tmp_path / "gnupg", "Alice <alice@example.test>")
    try:
        with GitServer(tmp_path / "git") as git:
            r = git.create_repository("fleet")
            signed = r.commit(
                {"a": "1"}, "signed", signing_key=key, author="Bob <bob@example.test>"
            )
            unsigned = r.commit({"a": "2"}, "unsigned")
            facts = commit_facts(fetch_commit(r.url, signed), signed)
            assert facts.author == "Bob <bob@example.test>"
            assert facts.signing_key == key.fingerprint
            assert facts.signing_key.endswith(key.key_id)
            assert commit_facts(fetch_commit(r.url, unsigned), unsigned).signing_key == ""
    finally:
        key.close()


def test_the_rule_names_every_reason() -> None:
    good = Provenance(
        commit=SHA,
        verification=Verification.VERIFIED,
        writer=FLUX_FIELD_MANAGER,
        writer_operation="Apply",
        flux_applied=True,
    )
    assert unverified(good) == ""
    edited = good.model_copy(
        update={"flux_applied": False, "writer": "kubectl-edit", "writer_operation": "Update"}
    )
    assert "kubectl-edit (Update)" in unverified(edited)
    unsigned = good.model_copy(update={"verification": Verification.NOT_CONFIGURED})
    assert "not signature-verified" in unverified(unsigned) and SHA[:12] in unverified(unsigned)
    assert "no provenance" in unverified(None)
