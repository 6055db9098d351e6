"""Where the agent keeps its private key and certificate: owner-only files on posix, DPAPI on
Windows, behind one small interface so the rest of the agent does not care which."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

from transom.engine.atomicfile import write_atomic

#: CryptProtectData flags: fail rather than show a prompt (the agent runs as a service).
CRYPTPROTECT_UI_FORBIDDEN = 0x1
#: Machine scope: an administrator enrolls, the service (LocalSystem) reads. User scope would
#: tie the key to the enrolling account's profile. Who may read the file is then its ACL: the
#: state directory is SYSTEM and Administrators only (agent.statedir).
CRYPTPROTECT_LOCAL_MACHINE = 0x4


class SecretStore(Protocol):
    def read(self, name: str) -> bytes | None:
        """The stored bytes, or None when nothing is stored under ``name``."""

    def write(self, name: str, data: bytes) -> None:
        """Replace ``name`` atomically: a crash leaves the old value or the new one."""


def _owner_only(fd: int) -> None:
    if sys.platform != "win32":
        os.fchmod(fd, 0o600)


def private_dir(path: Path) -> Path:
    """Create ``path`` readable by its owner only (posix); Windows inherits the folder's ACL,
    which for the agent's ProgramData folder is SYSTEM and Administrators."""
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        path.chmod(0o700)
    return path


class FileSecretStore:
    """Files with mode 0600 in a 0700 directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read(self, name: str) -> bytes | None:
        try:
            return (self.directory / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        private_dir(self.directory)
        write_atomic(str(self.directory / name), data, prepare=_owner_only)


class DpapiSecretStore:
    """Files encrypted with DPAPI in machine scope: a copied file is useless on another
    machine, and any account on this one that can read the file can decrypt it, so the
    file's ACL (SYSTEM and Administrators) is what keeps it private."""

    SUFFIX = ".dpapi"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read(self, name: str) -> bytes | None:
        import win32crypt  # noqa: PLC0415 - pywin32 exists on Windows only

        try:
            blob = (self.directory / (name + self.SUFFIX)).read_bytes()
        except FileNotFoundError:
            return None
        _, data = win32crypt.CryptUnprotectData(blob, None, None, None, CRYPTPROTECT_UI_FORBIDDEN)
        return bytes(data)

    def write(self, name: str, data: bytes) -> None:
        import win32crypt  # noqa: PLC0415 - pywin32 exists on Windows only

        blob = win32crypt.CryptProtectData(
            data,
            "transom agent",
            None,
            None,
            None,
            CRYPTPROTECT_UI_FORBIDDEN | CRYPTPROTECT_LOCAL_MACHINE,
        )
        private_dir(self.directory)
        write_atomic(str(self.directory / (name + self.SUFFIX)), bytes(blob))


def default_store(directory: Path) -> SecretStore:
    return DpapiSecretStore(directory) if os.name == "nt" else FileSecretStore(directory)
