"""The audit trail as the hub sees it: every signed checkpoint a Host published while the view
watched, each signature checked, and the sequence of checkpoints checked for continuity.

The chain itself lives on the host (`transom audit verify --log DIR --host NAME` walks it);
what the cluster holds is the latest checkpoint, the host's signed word for "my log had N
records ending in this hash". Seen over time, those words must agree: the sequence never goes
back, a sequence once signed keeps its hash, the key stays the same. A host whose checkpoints
all verify and agree is shown as *verified up to N*.
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from transom.api.host import AuditCheckpoint
from transom.engine.audit import Checkpoint, load_public_key

#: Checkpoints remembered per host (newest last).
HISTORY = 20


class AuditState(StrEnum):
    NONE = "none"  # nothing published
    VERIFIED = "verified"
    UNVERIFIABLE = "unverifiable"  # no public key published with the checkpoint
    BAD_SIGNATURE = "bad-signature"
    WENT_BACK = "went-back"  # a later checkpoint signs fewer records: truncated or reset
    REWRITTEN = "rewritten"  # the same sequence signed with another hash
    KEY_CHANGED = "key-changed"


#: States that say someone should look at the host's log.
ALARMS = frozenset(
    {
        AuditState.BAD_SIGNATURE,
        AuditState.WENT_BACK,
        AuditState.REWRITTEN,
        AuditState.KEY_CHANGED,
    }
)


def key_fingerprint(pem: str) -> str:
    """sha256 of the key's PEM body (its DER), shortened: enough to tell two keys apart."""
    body = "".join(line for line in pem.strip().splitlines() if "-----" not in line)
    try:
        der = base64.b64decode(body, validate=True)
    except ValueError:
        return ""
    return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


@dataclass(frozen=True)
class SeenCheckpoint:
    sequence: int
    head_hash: str
    time: str
    key: str  # fingerprint, "" without a key
    signature_valid: bool | None  # None: no key to check it with


def check(checkpoint: AuditCheckpoint) -> SeenCheckpoint:
    valid: bool | None = None
    if checkpoint.public_key:
        try:
            valid = Checkpoint.from_api(checkpoint).signature_valid(
                load_public_key(checkpoint.public_key)
            )
        except ValueError:
            valid = False  # a key that does not load signs nothing
    return SeenCheckpoint(
        sequence=checkpoint.sequence,
        head_hash=checkpoint.head_hash,
        time=checkpoint.time,
        key=key_fingerprint(checkpoint.public_key) if checkpoint.public_key else "",
        signature_valid=valid,
    )


@dataclass(frozen=True)
class Verification:
    state: AuditState
    message: str
    #: The highest record sequence a valid, consistent checkpoint signs; 0 for none.
    verified_up_to: int
    history: tuple[SeenCheckpoint, ...]


@dataclass
class _Host:
    history: deque[SeenCheckpoint] = field(default_factory=lambda: deque(maxlen=HISTORY))
    #: The first problem seen sticks: a later good checkpoint does not undo a rewrite.
    problem: tuple[AuditState, str] | None = None


@dataclass
class AuditWitness:
    hosts: dict[str, _Host] = field(default_factory=dict)

    def observe(self, host: str, checkpoint: AuditCheckpoint | None) -> None:
        if checkpoint is None:
            return
        seen = check(checkpoint)
        mine = self.hosts.setdefault(host, _Host())
        last = mine.history[-1] if mine.history else None
        if last is not None and (last.sequence, last.head_hash, last.time) == (
            seen.sequence,
            seen.head_hash,
            seen.time,
        ):
            return  # the same checkpoint in another Host update
        if mine.problem is None:
            mine.problem = _problem(mine.history, seen)
        mine.history.append(seen)

    def forget(self, host: str) -> None:
        self.hosts.pop(host, None)

    def verification(self, host: str) -> Verification:
        mine = self.hosts.get(host)
        if mine is None or not mine.history:
            return Verification(AuditState.NONE, "no audit checkpoint published", 0, ())
        history = tuple(mine.history)
        latest = history[-1]
        if mine.problem is not None:
            state, message = mine.problem
            good = [h.sequence for h in history if h.signature_valid]
            return Verification(state, message, 0 if not good else min(good), history)
        if latest.signature_valid is None:
            return Verification(
                AuditState.UNVERIFIABLE,
                "the checkpoint carries no public key to check its signature with",
                0,
                history,
            )
        seen = len(history)
        return Verification(
            AuditState.VERIFIED,
            f"signed checkpoints verified up to record {latest.sequence} "
            f"(key {latest.key}; {seen} checkpoint{'s' if seen != 1 else ''} seen, "
            "each signature valid and consistent with the one before)",
            latest.sequence,
            history,
        )


def _problem(history: deque[SeenCheckpoint], seen: SeenCheckpoint) -> tuple[AuditState, str] | None:
    if seen.signature_valid is False:
        return AuditState.BAD_SIGNATURE, (
            f"the checkpoint for record {seen.sequence} is not signed by the key it carries"
        )
    for old in history:
        if old.sequence == seen.sequence and old.head_hash != seen.head_hash:
            return AuditState.REWRITTEN, (
                f"record {seen.sequence} was signed with head hash {old.head_hash[:12]} at "
                f"{old.time} and with {seen.head_hash[:12]} at {seen.time}: the log was rewritten"
            )
    last = history[-1] if history else None
    if last is None:
        return None
    if seen.sequence < last.sequence:
        return AuditState.WENT_BACK, (
            f"the checkpoint went back from record {last.sequence} ({last.time}) to "
            f"{seen.sequence} ({seen.time}): the log was truncated or reset"
        )
    if last.key and seen.key and last.key != seen.key:
        return AuditState.KEY_CHANGED, (
            f"the signing key changed from {last.key} to {seen.key} at {seen.time}"
        )
    return None
