"""The local CA's certificates pass strict X.509 verification: Python 3.13 verifies with
VERIFY_X509_STRICT by default, so a host agent on 3.13 refuses a chain that lacks the key
identifiers. Checked here on any Python by asking for the strict flag explicitly."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509

from transom.dev import pki


def _strict_client(ca: pki.KeyPair) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return ctx


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, hostname: str) -> None:
    """A full TLS handshake in memory: the client verifies the server's chain for real."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(10):
        for name, end in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_serving_certificate_passes_strict_verification(tmp_path: Path, hostname: str) -> None:
    ca = pki.make_ca(tmp_path, "ca")
    serving = pki.issue(
        ca,
        tmp_path,
        "serving",
        "127.0.0.1",
        server_names=("localhost",),
        server_ips=("127.0.0.1",),
        client=False,
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(serving.cert), str(serving.key))
    _handshake(_strict_client(ca), server, hostname)


def test_another_ca_is_still_refused(tmp_path: Path) -> None:
    ca = pki.make_ca(tmp_path, "ca")
    other = pki.make_ca(tmp_path, "other")
    serving = pki.issue(ca, tmp_path, "serving", "x", server_ips=("127.0.0.1",), client=False)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(serving.cert), str(serving.key))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(_strict_client(other), server, "127.0.0.1")


def test_leaf_names_its_issuer_by_key_identifier(tmp_path: Path) -> None:
    ca = pki.make_ca(tmp_path, "ca")
    leaf = pki.issue(ca, tmp_path, "admin", "admin", organizations=("system:masters",))
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    leaf_cert = x509.load_pem_x509_certificate(leaf.cert.read_bytes())
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf_cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
