"""Canonical JSON and the digests built on it.

One serialisation for hashing records, digesting state and signing checkpoints, so a verifier
on another machine recomputes byte-identical input.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: prevHash of the first record ever written on a host.
GENESIS_HASH = "0" * 64

DIGEST_PREFIX = "sha256:"


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN and infinities refused (no portable form)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_state(state: Any) -> str:
    """``sha256:<hex>`` of a resource state; "" when there is no state to record.

    The state must already be redacted: a digest of a short secret can be brute-forced, so
    secret values must never be part of its input.
    """
    if state is None:
        return ""
    return DIGEST_PREFIX + sha256_hex(canonical_json(state))
