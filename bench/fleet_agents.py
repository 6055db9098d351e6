"""One process of simulated hosts for the fleet benchmark: ``python -m bench.fleet_agents
KUBECONFIG WORKDIR PREFIX FIRST COUNT LABELS SOURCE``. Prints ``ready`` and the set-up phases'
cumulative seconds (JSON) once every agent has listed its Assignments, then runs until its
standard input closes (the benchmark ends it so).

The benchmark starts several of these so the agents' CPU is spent outside the benchmark's own
process and outside the controller's: /proc then measures each side alone.

Simulated hosts by the thousand share a process, so what one agent process spends once per
connection counts here by the thousand: CPython's asyncio TLS transport reads into a buffer
of 256 KiB per connection (``asyncio.sslproto.SSLProtocol.max_size``), about 1 MiB for an
agent's four connections (three watches, one for requests), over half a simulated host's
memory. These processes read 16 KiB at a time instead, one TLS record's most.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import json
import logging
import sys
from pathlib import Path

from transom.agent.simulator import SCALE_OPTIONS, Simulator
from transom.kube.config import KubeConfig

#: The most plaintext one TLS record carries (RFC 8446, 5.1).
TLS_RECORD_BYTES = 16 * 1024


async def _main(argv: list[str]) -> None:
    kubeconfig, workdir, prefix, first, count, labels, source = argv
    sim = Simulator(
        KubeConfig.from_file(Path(kubeconfig)),
        count=int(count),
        first=int(first),
        workdir=Path(workdir),
        prefix=prefix,
        labels=dict(item.split("=", 1) for item in labels.split(",") if item),
        options=SCALE_OPTIONS,
        provision=False,
        approve=False,
        source_address=source,
    )
    async with sim:
        print(f"ready {json.dumps(sim.phase_seconds)}", flush=True)
        # Until the benchmark closes our stdin.
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.sslproto.SSLProtocol.max_size = TLS_RECORD_BYTES
    try:
        asyncio.run(_main(sys.argv[1:8]))
    except Exception as e:  # one line for the benchmark to show, not a traceback
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
