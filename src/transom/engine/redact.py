"""Keeping secrets out of results, logs and records.

Two sources of secret values: properties a type declares in ``secret_fields`` (redacted by
name), and every value a SecretResolver hands out (redacted wherever the text turns up, since a
provider's error message may quote it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from transom.api.conditions import SECRET_NOT_FOUND
from transom.engine.provider import ProviderError, SecretResolver

#: What a secret value is replaced with.
REDACTED = "<redacted>"
#: What a sealed secret value starts with (see SecretSealer).
SEALED_PREFIX = "hmac-sha256:"
#: Smallest key a SecretSealer takes: a short key would make its digests guessable again.
SEALER_KEY_BYTES = 32


class SealedSecret(str):
    """A keyed digest standing in for a secret value in a state the audit trail digests:
    never the secret, so redaction leaves it as it is, and a reader of old records can tell it
    from a value (see AuditTrail)."""

    __slots__ = ()


class SecretSealer:
    """HMAC-SHA256 of secret values under a key only this host holds.

    A plain hash of a short secret (a PIN, a password) is found by trying every guess; a keyed
    one cannot be tested without the key, yet the same value still gives the same digest on
    this host, so a change to a secret shows as a change in the audit digests.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < SEALER_KEY_BYTES:
            raise ValueError(f"a sealing key has at least {SEALER_KEY_BYTES} bytes")
        self.key = key

    def seal(self, value: Any) -> SealedSecret:
        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        return SealedSecret(SEALED_PREFIX + hmac.new(self.key, data, hashlib.sha256).hexdigest())

    def __repr__(self) -> str:
        return "SecretSealer(<key>)"


class Redactor:
    """The secret values seen so far, and scrubbing them out of text and data."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []

    def add(self, value: bytes | str) -> None:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        # Error messages often quote values escaped, by repr() or as JSON: catch those too.
        forms = (text, text.strip(), repr(text)[1:-1], json.dumps(text)[1:-1])
        for candidate in forms:
            if candidate and candidate not in self._secrets:
                self._secrets.add(candidate)
                # Longest first, so a secret containing another is replaced whole.
                self._ordered = sorted(self._secrets, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._ordered:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def value(self, value: Any) -> Any:
        if not self._ordered or isinstance(value, SealedSecret):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


class RedactingResolver:
    """Wraps a SecretResolver so every value it returns is known to the Redactor."""

    def __init__(self, inner: SecretResolver, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def resolve(self, name: str, key: str) -> bytes:
        value = self._inner.resolve(name, key)
        self._redactor.add(value)
        return value


class NoSecrets:
    """The resolver when none is configured: any reference to a Secret fails clearly."""

    def resolve(self, name: str, key: str) -> bytes:
        raise ProviderError(
            f"secret {name}/{key} is not available: no secret source configured",
            reason=SECRET_NOT_FOUND,
        )
