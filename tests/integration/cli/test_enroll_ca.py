"""`transom agent enroll` against the real API server without the CA that signed it: a
message that says a CA bundle is needed and how to get one, not a bare verification error."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from transom.dev.controlplane import ControlPlane

pytestmark = pytest.mark.controlplane

TOKEN = "abcdef.0123456789abcdef"


def other_ca(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-cluster-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def enroll(cp: ControlPlane, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "transom.cli.main", "agent", "enroll", "--server", cp.url),
            *("--token", TOKEN, "--name", "web01", "--state-dir", str(tmp_path / "state")),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_ca_file_says_a_ca_bundle_is_needed_and_how(
    controlplane: ControlPlane, tmp_path: Path
) -> None:
    done = enroll(controlplane, tmp_path)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and len(err) == 2, err
    assert "not signed by a CA this host trusts" in err[0] and "--ca-file" in err[0]
    assert "certificate-authority-data" in err[1] and "kubectl config view --raw" in err[1]
    assert not (tmp_path / "state").exists()


def test_with_the_wrong_ca_file_names_it(controlplane: ControlPlane, tmp_path: Path) -> None:
    wrong = other_ca(tmp_path / "wrong-ca.crt")
    done = enroll(controlplane, tmp_path, "--ca-file", str(wrong))
    assert done.returncode == 1, done.stderr
    assert f"not signed by the CA in {wrong}" in done.stderr
    assert "Traceback" not in done.stderr
