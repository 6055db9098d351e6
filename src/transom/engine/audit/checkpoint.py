"""Signed checkpoints: the agent's Ed25519 signature over (sequence, head hash, time).

The agent publishes the latest one in its Host status, so the hub holds a witness: rewriting
or truncating the host's log after a checkpoint no longer matches what was signed.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from transom.api.host import AuditCheckpoint
from transom.engine.atomicfile import write_atomic
from transom.engine.audit.canonical import canonical_json
from transom.engine.audit.log import AuditLog
from transom.engine.redact import SEALER_KEY_BYTES, SecretSealer

CHECKPOINTS_FILE = "checkpoints.jsonl"
#: Domain separation: a checkpoint signature can never be replayed as another signature.
SIGNATURE_CONTEXT = "transom.dev/audit-checkpoint/v1"
#: HKDF info of the key that seals secret values in audited states: derived from the signing
#: key, so it is stored (and protected) as that key is, and never written anywhere itself.
SEALING_CONTEXT = b"transom.dev/audit-secret-seal/v1"
#: The issue's promise: a checkpoint at least every minute while changes happen.
DEFAULT_INTERVAL_SECONDS = 60.0
#: Comfortably more than one stored checkpoint line (about 400 bytes).
TAIL_BYTES = 8192


def rfc3339(timestamp: float) -> str:
    """Microsecond precision keeps checkpoints signed in the same second distinct."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def signed_bytes(sequence: int, head_hash: str, time: str) -> bytes:
    return canonical_json(
        {"context": SIGNATURE_CONTEXT, "sequence": sequence, "headHash": head_hash, "time": time}
    )


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    head_hash: str
    time: str
    #: base64 Ed25519 signature over signed_bytes().
    signature: str
    #: The signer's public key, PEM; informational unless the verifier has no pinned key.
    public_key: str = ""

    @property
    def timestamp(self) -> float:
        """When it was signed, as Unix time."""
        return _parse_time(self.time)

    def to_api(self) -> AuditCheckpoint:
        """The shape the agent publishes in Host status."""
        return AuditCheckpoint(
            sequence=self.sequence,
            head_hash=self.head_hash,
            time=self.time,
            signature=self.signature,
            public_key=self.public_key,
        )

    @classmethod
    def from_api(cls, checkpoint: AuditCheckpoint) -> Checkpoint:
        return cls(
            checkpoint.sequence,
            checkpoint.head_hash,
            checkpoint.time,
            checkpoint.signature,
            checkpoint.public_key,
        )

    def to_json(self) -> dict[str, Any]:
        return self.to_api().model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Checkpoint:
        return cls.from_api(AuditCheckpoint.model_validate(raw))

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(
                base64.b64decode(self.signature, validate=True),
                signed_bytes(self.sequence, self.head_hash, self.time),
            )
        except (InvalidSignature, ValueError):
            return False
        return True


class AuditKey:
    """The agent's own signing key, kept beside the log and readable only by its owner."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.public_pem = public_key_pem(self.public_key)

    @classmethod
    def generate(cls) -> AuditKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> AuditKey:
        """Load the PEM key at ``path``, creating it (and ``<path>.pub``) on first start."""
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            key = cls.generate()
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = key._private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_atomic(str(path), pem, prepare=_owner_only)
            write_atomic(str(path) + ".pub", key.public_pem.encode())
            return key
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return cls(loaded)

    def secret_sealer(self) -> SecretSealer:
        """The host's sealer of secret values (see transom.engine.redact.SecretSealer)."""
        seed = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        key = HKDF(hashes.SHA256(), SEALER_KEY_BYTES, salt=None, info=SEALING_CONTEXT).derive(seed)
        return SecretSealer(key)

    def sign(self, sequence: int, head_hash: str, time: str) -> Checkpoint:
        signature = self._private.sign(signed_bytes(sequence, head_hash, time))
        return Checkpoint(
            sequence, head_hash, time, base64.b64encode(signature).decode(), self.public_pem
        )


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: bytes | str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


class Checkpointer:
    """Decides when a checkpoint is due, signs it and keeps it in ``checkpoints.jsonl``.

    Due when records were appended since the last checkpoint and ``interval`` has passed since
    it: the first change after a quiet spell is signed at once, a burst at most once a
    ``interval``. The agent calls ``maybe_checkpoint`` after each change and again after
    ``seconds_until_due`` so the last records of a burst are signed too.
    """

    def __init__(
        self,
        log: AuditLog,
        key: AuditKey,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.log = log
        self.key = key
        self.interval = interval
        self.clock = clock
        self.path = log.directory / CHECKPOINTS_FILE
        self._lock = threading.Lock()
        self.latest: Checkpoint | None = _last_stored(self.path)
        self._latest_at = 0.0 if self.latest is None else _parse_time(self.latest.time)

    def seconds_until_due(self) -> float | None:
        """None when every record is signed; 0 when a checkpoint is due now."""
        signed = self.latest.sequence if self.latest else 0
        if self.log.head[0] <= signed:
            return None
        return max(0.0, self._latest_at + self.interval - self.clock())

    def maybe_checkpoint(self) -> Checkpoint | None:
        """Sign the head if a checkpoint is due; the new checkpoint, or None."""
        if self.seconds_until_due() != 0:
            return None
        return self.checkpoint()

    def checkpoint(self) -> Checkpoint:
        """Sign the current head now (also at startup and shutdown)."""
        with self._lock:
            now = self.clock()
            sequence, head_hash = self.log.head
            checkpoint = self.key.sign(sequence, head_hash, rfc3339(now))
            with self.path.open("ab", buffering=0) as f:
                f.write(canonical_json(checkpoint.to_json()) + b"\n")
                os.fsync(f.fileno())
            self.latest, self._latest_at = checkpoint, now
            return checkpoint


def load_checkpoints(path: Path) -> list[Checkpoint]:
    """Checkpoints from JSON lines, a JSON list, one checkpoint, or a Host object (JSON)."""
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return []
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError:
        # A torn last line of the local store is dropped: the next checkpoint supersedes it.
        parsed = []
        for line in text.splitlines():
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return parse_checkpoints(parsed)


def parse_checkpoints(parsed: Any) -> list[Checkpoint]:
    items: Iterable[Any]
    if isinstance(parsed, list):
        items = parsed
    elif isinstance(parsed, dict) and "status" in parsed:
        found = parsed["status"].get("auditCheckpoint")
        items = [found] if found else []
    else:
        items = [parsed]
    return [Checkpoint.from_json(item) for item in items]


def _last_stored(path: Path) -> Checkpoint | None:
    """The newest stored checkpoint, reading only the end of a store that grows forever."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(tail.splitlines()):
        try:
            return Checkpoint.from_json(json.loads(line))
        except ValueError:
            continue  # a torn last line, or the cut-off first one
    return None


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _owner_only(fd: int) -> None:
    if os.name == "posix":
        os.fchmod(fd, 0o600)
