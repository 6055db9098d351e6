"""A change to a secret property shows in the audit digests, without the digests revealing it.

Secret properties (a File's ``content``, a Service's ``password``) enter the before/after
digests as a keyed digest (HMAC-SHA256 under a key derived from the host's audit signing key),
so a content-only change gives different before and after digests, the same value gives the
same digest on that host, and someone holding only the log cannot test guesses against it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from transom.api.resources import Resource, parse_resources
from transom.engine.audit import (
    AuditAction,
    AuditKey,
    AuditLog,
    AuditObserver,
    AuditResult,
    AuditTrail,
    digest_state,
    read_records,
    verify,
)
from transom.engine.audit.record import RECORD_VERSION
from transom.engine.converge import Engine
from transom.engine.redact import REDACTED, Redactor, SealedSecret
from transom.providers.posix import posix_providers

from .helpers import SOURCE

PIN = "4711"


def file_doc(path: Path, content: str) -> list[Resource]:
    return parse_resources([{"name": "pin", "file": {"path": str(path), "content": content}}])


def audited_engine(log_dir: Path, key: AuditKey) -> tuple[Engine, AuditTrail]:
    trail = AuditTrail(AuditLog(log_dir))
    engine = Engine(
        posix_providers(), observer=AuditObserver(trail, SOURCE), sealer=key.secret_sealer()
    )
    return engine, trail


def completions(log_dir: Path) -> list[tuple[str, str]]:
    return [
        (r.before, r.after)
        for r in read_records(log_dir)
        if r.action is AuditAction.SET and r.result is AuditResult.SUCCEEDED
    ]


def test_a_content_only_change_gives_different_before_and_after_digests(tmp_path: Path) -> None:
    target, log_dir = tmp_path / "pin.txt", tmp_path / "audit"
    engine, _ = audited_engine(log_dir, AuditKey.generate())
    assert engine.apply(file_doc(target, "1234")).changed
    assert engine.apply(file_doc(target, PIN)).changed
    (_, first_after), (before, after) = completions(log_dir)
    assert before == first_after, "the state before the second change is the first's after"
    assert before != after, "only the secret content changed, and the digests must show it"
    assert verify(log_dir).ok


def test_the_same_secret_gives_the_same_digest_on_that_host(tmp_path: Path) -> None:
    key = AuditKey.generate()
    engine, _ = audited_engine(tmp_path / "audit", key)
    engine.apply(file_doc(tmp_path / "a.txt", PIN))
    engine.apply(file_doc(tmp_path / "a.txt", "other"))
    engine.apply(file_doc(tmp_path / "a.txt", PIN))
    (_, first), _, (_, again) = completions(tmp_path / "audit")
    assert first == again
    # Another host (another key) digests the same state differently.
    other, _ = audited_engine(tmp_path / "other", AuditKey.generate())
    other.apply(file_doc(tmp_path / "a.txt", "x"))
    other.apply(file_doc(tmp_path / "a.txt", PIN))
    assert completions(tmp_path / "other")[1][1] != first


def test_the_digest_does_not_reveal_a_short_secret(tmp_path: Path) -> None:
    """Every 4-digit PIN tried, the ways a keyless digest could have been built: none match."""
    target, log_dir = tmp_path / "pin.txt", tmp_path / "audit"
    key = AuditKey.generate()
    engine, _ = audited_engine(log_dir, key)
    engine.apply(file_doc(target, PIN))
    ((_, after),) = completions(log_dir)
    state = engine.observed(engine.plan(file_doc(target, PIN)), "pin")
    assert state is not None
    for guess in (f"{n:04d}" for n in range(10_000)):
        for form in (guess, hashlib.sha256(guess.encode()).hexdigest(), REDACTED):
            assert digest_state({**state, "content": form}) != after
    text = b"".join(p.read_bytes() for p in log_dir.iterdir())
    assert PIN.encode() not in text.replace(b"sha256:", b"")
    assert key.secret_sealer().key.hex().encode() not in text


@settings(max_examples=50, deadline=None)
@given(a=st.text(max_size=40), b=st.text(max_size=40))
def test_sealing_is_a_keyed_injective_looking_function(a: str, b: str) -> None:
    key = AuditKey.generate()
    sealer = key.secret_sealer()
    assert sealer.seal(a) == key.secret_sealer().seal(a), "derived from the key, deterministic"
    assert (sealer.seal(a) == sealer.seal(b)) == (a == b)
    assert sealer.seal(a) != AuditKey.generate().secret_sealer().seal(a)
    assert hashlib.sha256(json.dumps(a).encode()).hexdigest() not in sealer.seal(a)
    assert hashlib.sha256(a.encode()).hexdigest() not in sealer.seal(a)


def test_the_redactor_leaves_a_sealed_value_as_it_is() -> None:
    redactor = Redactor()
    redactor.add("a")  # a secret that is a substring of nearly every hex digest
    sealed = AuditKey.generate().secret_sealer().seal("abc")
    assert redactor.value({"content": sealed}) == {"content": sealed}
    assert isinstance(redactor.value(sealed), SealedSecret)


def test_recovering_a_version_2_intent_digests_secrets_as_version_2_did(tmp_path: Path) -> None:
    """An intent an older agent wrote (secrets redacted) still matches the state it announced
    when a newer agent, sealing secrets, recovers it after a crash."""
    sealer = AuditKey.generate().secret_sealer()
    trail = AuditTrail(AuditLog(tmp_path))
    old = {"path": "/etc/pin", "content": REDACTED}
    intent = trail.begin(SOURCE, "pin", "File", before={"path": "/etc/pin"}, desired=old)
    assert intent.version == RECORD_VERSION
    legacy = replace(intent, version=2)
    recovered = trail.recover(legacy, {"path": "/etc/pin", "content": sealer.seal(PIN)})
    assert recovered.result is AuditResult.SUCCEEDED
    assert trail.recover(intent, {"path": "/etc/pin", "content": sealer.seal(PIN)}).result is (
        AuditResult.UNKNOWN
    )
