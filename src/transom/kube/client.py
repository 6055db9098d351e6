"""The one thin adapter to the Kubernetes API: a handful of verbs over aiohttp.

Lighter than a generated client (the agent counts its memory), and lets the agent swap its
client certificate on rotation without a restart. Tests use it against a real apiserver.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, Protocol

import aiohttp

from transom.kube.config import KubeConfig
from transom.kube.ratelimit import TokenBucket

PatchType = Literal["merge", "json", "strategic", "apply"]
_PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
Obj = dict[str, Any]
_THROTTLE_RETRIES = 10
#: How long an idle connection is kept: kube-apiserver closes its side after 90 s, and a
#: host's requests (a Lease renewal a minute, a status write per change) then reuse one
#: connection instead of paying a TLS handshake each, as with aiohttp's 15 s.
KEEPALIVE_SECONDS = 75.0

#: Characters YAML reads as line breaks (and folds away) or refuses raw; the apiserver decodes
#: apply patches as YAML. Escaped as \uXXXX, which JSON and YAML both read back as they were.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
#: Lone surrogates (a file name decoded with surrogateescape) are no Unicode text: sent as
#: U+FFFD, as the apiserver (Go) reads any invalid UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def encode(body: Any) -> bytes:
    """A request body as UTF-8 JSON with every character as itself. json.dumps' default
    escapes characters outside the Basic Multilingual Plane (an emoji) as surrogate pairs,
    which the apiserver's YAML decoder rejects in an apply patch."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    text = _SURROGATE.sub("\ufffd", text)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


def _retry_after(header: str | None) -> float:
    try:
        return min(max(float(header or 1), 0.1), 1.0)
    except ValueError:
        return 1.0


#: Failures of a request that mean "the network: try again later, quietly".
NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)


class ApiError(Exception):
    """A non-2xx answer, with the apiserver's Status message."""

    def __init__(self, status: int, body: Obj | str) -> None:
        self.status = status
        self.body = body
        if isinstance(body, dict):
            self.reason = str(body.get("reason", ""))
            self.message = str(body.get("message", ""))
        else:
            self.reason, self.message = "", body[:500]
        super().__init__(f"{status} {self.reason}: {self.message}")


#: The status a request is counted with when no answer came (a network error, a timeout).
NO_ANSWER = 0


class RequestObserver(Protocol):
    """Hears of every request sent and its answer's HTTP status (`NO_ANSWER` without one); a
    watch is counted once, when its stream starts. `transom.kube.metrics` counts them."""

    def request_done(self, method: str, path: str, status: int) -> None: ...


class Kube:
    """`async with Kube(config) as kube:`; safe to share within one event loop."""

    def __init__(
        self,
        config: KubeConfig,
        *,
        timeout: float = 30.0,
        field_manager: str = "transom",
        observer: RequestObserver | None = None,
        limiter: TokenBucket | None = None,
        connections: int = 32,
        source_address: str | None = None,
    ) -> None:
        self.config = config
        #: The local address connections are made from (None: the system's choice). Simulated
        #: hosts by the thousand each take their own loopback address: one address has only
        #: 28,232 ephemeral ports to reach one apiserver port from.
        self._local_addr = None if source_address is None else (source_address, 0)
        #: Client-side rate limit for requests (not watches); None: unlimited.
        self.limiter = limiter
        #: Connections kept to the apiserver (HTTP/1.1: one request in flight on each).
        self.connections = connections
        self.field_manager = field_manager
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl: ssl.SSLContext = config.ssl_context()
        self._session: aiohttp.ClientSession | None = None
        #: Watches get their own pool: each holds a connection for minutes, and eight of them
        #: (the controller has that many informers) would otherwise leave no connection for a
        #: single request.
        self._watch_session: aiohttp.ClientSession | None = None
        #: Requests sent, by "METHOD path": lets tests and benchmarks measure API load.
        self.requests: Counter[str] = Counter()
        self.observer = observer

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for session in (self._session, self._watch_session):
            if session is not None:
                await session.close()
        self._session = self._watch_session = None

    def set_client_certificate(self, cert_pem: bytes, key_pem: bytes) -> None:
        """Use a rotated certificate for new connections; in-flight ones finish as they are."""
        self.config.cert_pem, self.config.key_pem = cert_pem, key_pem
        self._ssl = self.config.ssl_context()
        old = (self._session, self._watch_session)
        self._session = self._watch_session = None
        for session in old:
            if session is not None:
                # Close after the current loop iteration; open watches reconnect with the new
                # cert.
                asyncio.get_running_loop().create_task(session.close())

    def _observe(self, method: str, path: str, status: int) -> None:
        if self.observer is None:
            return
        if status == NO_ANSWER:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                return  # its caller gave up on it (shutdown, a restarted watch): no API error
        self.observer.request_done(method, path, status)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                base_url=self.config.server,
                connector=aiohttp.TCPConnector(
                    ssl=self._ssl,
                    limit=self.connections,
                    keepalive_timeout=KEEPALIVE_SECONDS,
                    local_addr=self._local_addr,
                ),
                timeout=self._timeout,
            )
        return self._session

    def _watch_client(self) -> aiohttp.ClientSession:
        """One connection per open watch, however many: a watch never waits for a free one."""
        if self._watch_session is None or self._watch_session.closed:
            self._watch_session = aiohttp.ClientSession(
                base_url=self.config.server,
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0, local_addr=self._local_addr),
                timeout=self._timeout,
            )
        return self._watch_session

    async def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token = self.config.token
        if self.config.token_source is not None:
            token = await self.config.token_source()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        data = None if body is None else encode(body)
        for attempt in range(_THROTTLE_RETRIES + 1):
            if self.limiter is not None:
                await self.limiter.take()
            self.requests[f"{method} {path}"] += 1
            headers = await self._headers(content_type if data is not None else None)
            status = NO_ANSWER
            try:
                async with self._client().request(
                    method, path, data=data, params=params, headers=headers
                ) as resp:
                    status = resp.status
                    text = await resp.text()
                    payload: Obj | str
                    try:
                        payload = json.loads(text) if text else {}
                    except json.JSONDecodeError:
                        payload = text
                    if resp.status == 429 and attempt < _THROTTLE_RETRIES:
                        # Throttled, or storage still initializing after a (re)start: wait as
                        # told, as client-go does, rather than fail the caller.
                        await asyncio.sleep(_retry_after(resp.headers.get("Retry-After")))
                        continue
                    if resp.status >= 400:
                        raise ApiError(resp.status, payload)
                    return payload if isinstance(payload, dict) else {"raw": payload}
            finally:
                self._observe(method, path, status)
        raise AssertionError("unreachable")

    async def get(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def get_or_none(self, path: str) -> Obj | None:
        try:
            return await self.get(path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    async def list(self, path: str, **params: str) -> Obj:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body=body)

    async def patch(
        self,
        path: str,
        body: Any,
        patch_type: PatchType = "merge",
        *,
        force: bool = False,
        field_manager: str | None = None,
    ) -> Obj:
        params: dict[str, str] = {}
        if patch_type == "apply":
            params["fieldManager"] = field_manager or self.field_manager
            if force:
                params["force"] = "true"
        return await self.request(
            "PATCH",
            path,
            body=body,
            params=params or None,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
        )

    async def apply(
        self, path: str, body: Obj, *, force: bool = True, field_manager: str | None = None
    ) -> Obj:
        """Server-side apply: `path` names the object itself (field_manager: another owner
        than the client's, e.g. one controller shard's part of a status)."""
        return await self.patch(path, body, "apply", force=force, field_manager=field_manager)

    async def delete(self, path: str, *, missing_ok: bool = True) -> Obj | None:
        try:
            return await self.request("DELETE", path)
        except ApiError as e:
            if e.status == 404 and missing_ok:
                return None
            raise

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> AsyncIterator[Obj]:
        """Yield watch events ({type, object}) until the server ends the watch. Bookmarks are
        requested so a resumed watch starts from a recent resourceVersion."""
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if resource_version:
            params["resourceVersion"] = resource_version
        if field_selector:
            params["fieldSelector"] = field_selector
        if label_selector:
            params["labelSelector"] = label_selector
        self.requests[f"WATCH {path}"] += 1
        headers = await self._headers()
        status = NO_ANSWER
        try:
            opened = await self._watch_client().get(
                path,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30),
            )
            status = opened.status
        finally:
            self._observe("WATCH", path, status)
        async with opened as resp:
            if resp.status >= 400:
                text = await resp.text()
                try:
                    raise ApiError(resp.status, json.loads(text))
                except json.JSONDecodeError:
                    raise ApiError(resp.status, text) from None
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)
