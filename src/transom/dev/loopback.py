"""An aiohttp application on 127.0.0.1, served from its own thread and event loop, so that a
synchronous test (or the apiserver, while the test waits) can reach it: the stand-ins for the
cloud endpoints a host's identity comes from."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable

from aiohttp import web


class LoopbackServer:
    """`with LoopbackServer(make_app) as server:`; `server.url` is `http(s)://127.0.0.1:PORT`."""

    def __init__(
        self,
        make_app: Callable[[], web.Application],
        *,
        tls: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        self._make_app = make_app
        self._tls = tls
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> LoopbackServer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="loopback", daemon=True)
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=30)
        self.url = f"{'https' if self._tls else 'http'}://127.0.0.1:{port}"
        return self

    async def _serve(self) -> int:
        self._runner = web.AppRunner(self._make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, ssl_context=self._tls)
        await site.start()
        return int(self._runner.addresses[0][1])

    def stop(self) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
