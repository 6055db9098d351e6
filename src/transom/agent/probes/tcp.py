"""The tcp probe: a connection that opens."""

from __future__ import annotations

import asyncio
import contextlib

from transom.agent.probes.context import ProbeError
from transom.api.readiness import TcpProbe


async def check_tcp(probe: TcpProbe, timeout: float) -> str:
    where = f"{probe.host}:{probe.port}"
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(probe.host, probe.port)
    except TimeoutError:
        raise ProbeError(f"connect {where}: no answer within {timeout:g} s") from None
    except OSError as exc:
        raise ProbeError(f"connect {where}: {exc.strerror or exc}") from None
    writer.close()
    # The probe is about opening; a reset on close is the server's business.
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return f"connected to {where}"
