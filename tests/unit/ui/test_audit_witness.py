"""The hub's view of a host's audit trail: real Ed25519 checkpoints, signed by the agent's own
key type, checked as they are published; tampering shows and sticks."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from transom.api.host import AuditCheckpoint
from transom.engine.audit import AuditKey
from transom.ui.audit import AuditState, AuditWitness

HASHES = [f"{i:064x}" for i in range(1, 50)]


def signed(key: AuditKey, sequence: int, head: str, time: str) -> AuditCheckpoint:
    return key.sign(sequence, head, time).to_api()


def t(i: int) -> str:
    return f"2026-12-01T00:00:{i:02d}.000000Z"


def test_consistent_checkpoints_verify_up_to_the_latest() -> None:
    key, w = AuditKey.generate(), AuditWitness()
    for i, seq in enumerate((3, 7, 7, 12)):
        w.observe("h", signed(key, seq, HASHES[seq], t(i)))
    v = w.verification("h")
    assert v.state is AuditState.VERIFIED
    assert v.verified_up_to == 12
    assert "verified up to record 12" in v.message
    assert [h.sequence for h in v.history] == [3, 7, 7, 12]


def test_nothing_published() -> None:
    assert AuditWitness().verification("h").state is AuditState.NONE


def test_a_forged_signature_fails() -> None:
    key, other, w = AuditKey.generate(), AuditKey.generate(), AuditWitness()
    forged = signed(other, 5, HASHES[5], t(1)).model_copy(update={"public_key": key.public_pem})
    w.observe("h", forged)
    assert w.verification("h").state is AuditState.BAD_SIGNATURE


def test_going_back_and_rewriting_show_and_stick() -> None:
    key = AuditKey.generate()
    w = AuditWitness()
    w.observe("h", signed(key, 10, HASHES[10], t(1)))
    w.observe("h", signed(key, 4, HASHES[4], t(2)))
    w.observe("h", signed(key, 20, HASHES[20], t(3)))  # a later good one undoes nothing
    v = w.verification("h")
    assert v.state is AuditState.WENT_BACK
    assert "from record 10" in v.message
    w2 = AuditWitness()
    w2.observe("h", signed(key, 10, HASHES[10], t(1)))
    w2.observe("h", signed(key, 10, HASHES[11], t(2)))
    assert w2.verification("h").state is AuditState.REWRITTEN


def test_a_new_key_shows() -> None:
    w = AuditWitness()
    w.observe("h", signed(AuditKey.generate(), 3, HASHES[3], t(1)))
    w.observe("h", signed(AuditKey.generate(), 4, HASHES[4], t(2)))
    assert w.verification("h").state is AuditState.KEY_CHANGED


def test_unsigned_key_is_unverifiable() -> None:
    cp = signed(AuditKey.generate(), 3, HASHES[3], t(1)).model_copy(update={"public_key": ""})
    w = AuditWitness()
    w.observe("h", cp)
    assert w.verification("h").state is AuditState.UNVERIFIABLE


KEY = AuditKey.generate()


@settings(deadline=None)  # a dozen real signatures per example: slow under load, not wrong
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=12))
def test_verified_exactly_when_the_sequence_never_goes_back(sequences: list[int]) -> None:
    key, w = KEY, AuditWitness()
    for i, seq in enumerate(sequences):
        w.observe("h", signed(key, seq, HASHES[seq], t(i)))
    v = w.verification("h")
    monotonic = all(a <= b for a, b in itertools.pairwise(sequences))
    assert (v.state is AuditState.VERIFIED) == monotonic
    if monotonic:
        assert v.verified_up_to == sequences[-1]
