"""A bootstrap token the cluster has only just stored is not yet known to the apiserver's
token authenticator (it reads Secrets through its own cache), so the first request can get 401
for a moment: enrollment retries 401 briefly; 403 and a 401 that persists still fail clearly."""

from __future__ import annotations

from typing import Any

import pytest

from transom.agent import enroll as enroll_mod
from transom.agent.enroll import EnrollmentError, request_certificate
from transom.kube.client import ApiError


class _Kube:
    """The thin adapter's `create`, answering with the given statuses first."""

    def __init__(self, failures: list[int]) -> None:
        self.failures = failures
        self.calls = 0

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            status = self.failures.pop(0)
            raise ApiError(status, {"reason": "Unauthorized", "message": "Unauthorized"})
        return {"metadata": {"name": "csr-1", "resourceVersion": "7"}}


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    async def certificate(*args: Any, **kwargs: Any) -> bytes:
        return b"CERT"

    monkeypatch.setattr(enroll_mod, "wait_for_certificate", certificate)
    monkeypatch.setattr(enroll_mod, "UNKNOWN_TOKEN_GRACE_SECONDS", 1.0)


async def test_a_token_not_yet_known_is_retried() -> None:
    kube = _Kube([401, 401])
    cert, _key = await request_certificate(kube, "web01")  # type: ignore[arg-type]
    assert cert == b"CERT"
    assert kube.calls == 3


async def test_a_401_that_persists_fails_with_the_reason() -> None:
    kube = _Kube([401] * 1000)
    with pytest.raises(EnrollmentError, match=r"401 Unauthorized.*token may be wrong"):
        await request_certificate(kube, "web01")  # type: ignore[arg-type]
    assert kube.calls > 1


async def test_403_is_not_retried() -> None:
    kube = _Kube([403])
    with pytest.raises(EnrollmentError, match="403"):
        await request_certificate(kube, "web01")  # type: ignore[arg-type]
    assert kube.calls == 1
