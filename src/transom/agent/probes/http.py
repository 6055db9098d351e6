"""The http probe: a GET whose status is in range and whose body matches, TLS verified."""

from __future__ import annotations

import re
import ssl

import aiohttp

from transom.agent.probes.context import ProbeError
from transom.api.readiness import BODY_LIMIT, HttpProbe


def tls_context(probe: HttpProbe) -> ssl.SSLContext | bool:
    """Verification on unless turned off; caBundle replaces the host's trust store."""
    if probe.insecure_skip_tls_verify:
        return False
    if probe.ca_bundle is not None:
        return ssl.create_default_context(cadata=probe.ca_bundle)
    return ssl.create_default_context()


async def check_http(probe: HttpProbe, timeout: float) -> str:
    expected = probe.expected_status
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False
            ) as session,
            session.get(probe.url, allow_redirects=False, ssl=tls_context(probe)) as response,
        ):
            body = await response.content.read(BODY_LIMIT) if probe.body_regex else b""
            status = response.status
    except TimeoutError:
        raise ProbeError(f"GET {probe.url}: no answer within {timeout:g} s") from None
    except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
        raise ProbeError(f"GET {probe.url}: {exc}") from None
    if not expected.min <= status <= expected.max:
        raise ProbeError(
            f"GET {probe.url} returned {status}, expected {expected.min}-{expected.max}"
        )
    if probe.body_regex and not re.search(probe.body_regex, body.decode("utf-8", "replace")):
        raise ProbeError(
            f"GET {probe.url} returned {status}; body does not match {probe.body_regex!r}"
        )
    return f"GET {probe.url} returned {status}"
