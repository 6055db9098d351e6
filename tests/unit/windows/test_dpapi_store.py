"""DpapiSecretStore: the key an administrator enrolls is readable by the service (LocalSystem).

The fake win32crypt keeps DPAPI's scoping: a user-scope blob opens only for the account that
sealed it, a machine-scope one (CRYPTPROTECT_LOCAL_MACHINE) for any account on the machine.
The round trip through the real CryptProtectData runs on Windows CPython (the Wine lane)."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from transom.agent import store


class FakeDpapi(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("win32crypt")
        self.account = "WIN-SIM\\Administrator"

    def CryptProtectData(self, data: bytes, description: str, *rest: Any) -> bytes:  # noqa: N802
        flags = rest[-1]
        scope = "machine" if flags & store.CRYPTPROTECT_LOCAL_MACHINE else self.account
        return json.dumps({"scope": scope, "data": data.hex()}).encode()

    def CryptUnprotectData(self, blob: bytes, *rest: Any) -> tuple[str, bytes]:  # noqa: N802
        sealed = json.loads(blob)
        if sealed["scope"] not in ("machine", self.account):
            # NTE_BAD_KEY_STATE: the user's master key is not this account's.
            raise OSError(-2146893813, "Key not valid for use in specified state.")
        return "transom agent", bytes.fromhex(sealed["data"])


def test_enrolled_by_an_administrator_read_by_the_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dpapi = FakeDpapi()
    monkeypatch.setitem(sys.modules, "win32crypt", dpapi)
    secrets = store.DpapiSecretStore(tmp_path)
    secrets.write("client.key", b"-----BEGIN PRIVATE KEY-----")
    dpapi.account = "NT AUTHORITY\\SYSTEM"
    assert secrets.read("client.key") == b"-----BEGIN PRIVATE KEY-----"


@pytest.mark.skipif(os.name != "nt", reason="needs DPAPI (Windows CPython: the Wine lane)")
def test_real_dpapi_round_trip(tmp_path: Path) -> None:
    secrets = store.DpapiSecretStore(tmp_path)
    secrets.write("client.key", b"secret")
    assert secrets.read("client.key") == b"secret"
    assert b"secret" not in (tmp_path / "client.key.dpapi").read_bytes()
