"""Certificate rotation: a new key and certificate, swapped in without a restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography import x509

from transom.agent.enroll import CERT_NAME, KEY_NAME, certificate_window
from transom.agent.rotation import CertificateRotator
from transom.agent.store import FileSecretStore
from transom.api import kstatus
from transom.kube.client import Kube

from .conftest import Agents, StandIn, eventually, file_resource, host_name

pytestmark = pytest.mark.controlplane


def serial(pem: bytes) -> int:
    return x509.load_pem_x509_certificate(pem).serial_number


async def test_rotation_swaps_certificate_without_restart(agents: Agents, standin: StandIn) -> None:
    identity = await agents.enroll(host_name("rot"), expiration_seconds=600)
    not_before, not_after = certificate_window(identity.cert_pem)
    # Rotate ~2 s from now: the signer backdates certificates, so 70% would be minutes away.
    due = datetime.now(UTC).timestamp() + 2
    fraction = (due - not_before.timestamp()) / (not_after - not_before).total_seconds()
    store = FileSecretStore(agents.tmp / identity.config.host / "state")
    rotators: list[CertificateRotator] = []

    def make(kube: Kube) -> CertificateRotator:
        r = CertificateRotator(
            identity.config.host, [kube], store, fraction=fraction, expiration_seconds=600
        )
        rotators.append(r)
        return r

    a = await agents.start(identity, rotator_factory=make)
    target = a.root / "before.txt"
    await standin.assign(a.host, [file_resource("f", target, "1")])

    async def rotated() -> bool:
        return rotators[0].rotations >= 1

    await eventually(rotated, timeout=30)
    new_cert = a.kube.config.cert_pem
    assert new_cert is not None and serial(new_cert) != serial(identity.cert_pem)
    assert store.read(CERT_NAME) == new_cert
    assert store.read(KEY_NAME) == a.kube.config.key_pem != identity.key_pem

    # Same process, same Agent: it still watches and writes status, now with the new cert.
    after = a.root / "after.txt"
    await standin.assign(a.host, [file_resource("f", after, "2")], generation=2)

    async def converged() -> bool:
        obj = await standin.assignment(a.host)
        return bool(
            obj["status"].get("observedGeneration") == 2
            and kstatus.compute(obj).status is kstatus.Status.CURRENT
        )

    await eventually(converged, timeout=30)
    assert after.read_text() == "2"
    assert not a.task.done()
