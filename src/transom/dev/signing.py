"""Throwaway OpenPGP keys for signing test commits with Debian's GnuPG.

Each key lives in a GNUPGHOME of its own (a private temporary directory, never the user's
keyring), with no passphrase, so tests can sign commits and hand source-controller the
public key:

    key = SigningKey.create(tmp_path / "gnupg", "Alice <alice@example.test>")
    repo.commit({...}, "signed", signing_key=key)
    secret = {"data": {"author.asc": base64(key.public_key)}}   # GitRepository spec.verify
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class SigningError(RuntimeError):
    pass


def gpg_program() -> str:
    """The absolute path of gpg; SigningError when GnuPG is not installed."""
    path = shutil.which("gpg")
    if path is None:
        raise SigningError("gpg is missing: run tools/gnupg/setup.sh (Debian's gnupg)")
    return str(Path(path).resolve())


@dataclass(frozen=True)
class SigningKey:
    home: Path
    uid: str
    #: The primary key's v4 fingerprint, upper-case hex (40 characters).
    fingerprint: str
    #: ASCII-armored public key, as source-controller's verify Secret holds it.
    public_key: str

    @property
    def key_id(self) -> str:
        """The long key ID source-controller names: the fingerprint's last 16 hex digits."""
        return self.fingerprint[-16:]

    @classmethod
    def create(cls, home: Path, uid: str) -> SigningKey:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        run = _runner(home)
        run("--quick-generate-key", "--passphrase", "", uid, "ed25519", "sign", "never")
        listing = run("--with-colons", "--list-secret-keys", uid)
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        public = run("--armor", "--export", fingerprint)
        return cls(home, uid, fingerprint.upper(), public)

    def git_options(self) -> list[str]:
        """`git -c` options that sign a commit with this key."""
        return [
            "-c",
            f"gpg.program={gpg_program()}",
            "-c",
            f"user.signingkey={self.fingerprint}",
            "-c",
            "commit.gpgsign=true",
        ]

    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": str(self.home)}

    def close(self) -> None:
        """Stop the key's gpg-agent (started by signing) so no process outlives the test."""
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            subprocess.run(
                [gpgconf, "--kill", "all"],
                env={**os.environ, **self.env()},
                check=False,
                capture_output=True,
            )


def _runner(home: Path) -> Callable[..., str]:
    program = gpg_program()

    def run(*args: str) -> str:
        proc = subprocess.run(
            [program, "--batch", "--pinentry-mode", "loopback", *args],
            env={**os.environ, "GNUPGHOME": str(home)},
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SigningError(f"gpg {args[0]} failed: {proc.stderr.strip()[:500]}")
        return proc.stdout

    return run
