"""Which failures of a request mean "the network: try again later, quietly"."""

from __future__ import annotations

import aiohttp

NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
