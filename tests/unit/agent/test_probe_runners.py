"""Each probe kind against the real thing it checks: an HTTP(S) server and a TCP listener on
loopback, real programs, and the simulated Windows facade (service, event log), which keeps
the real API's semantics; on this (posix) host the Windows-only probes say so."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from transom.agent.probes.context import ProbeContext
from transom.agent.probes.run import attempt
from transom.api.readiness import Probe
from transom.dev.pki import issue, make_ca
from transom.engine.policy import HostPolicy
from transom.providers.windows import facade as f
from transom.providers.windows.simulated import SimulatedFacade

SCRIPTS_ON = HostPolicy(allow_scripts=True)


def ctx(policy: HostPolicy = SCRIPTS_ON, facade: f.WindowsFacade | None = None) -> ProbeContext:
    return ProbeContext(policy, facade, applied_at=time.time())


def probe(**kind: Any) -> Probe:
    return Probe.model_validate({"name": "p", **kind})


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = int(self.path.strip("/") or 200)
        body = f"status {code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(server: http.server.HTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def web() -> Iterator[str]:
    yield from _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler))


@pytest.fixture
def tls_web(tmp_path: Path) -> Iterator[tuple[str, str]]:
    ca = make_ca(tmp_path, "probe-ca")
    cert = issue(ca, tmp_path, "web", "localhost", server_ips=("127.0.0.1",), client=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert, cert.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for where in _serve(server):
        yield where, ca.cert.read_text()


async def test_http_passes_in_range_and_fails_naming_status_and_range(web: str) -> None:
    assert await attempt(probe(http={"url": f"http://{web}/201"}), ctx(), 1) == (
        True,
        f"GET http://{web}/201 returned 201",
    )
    ok, message = await attempt(probe(http={"url": f"http://{web}/503"}), ctx(), 1)
    assert not ok and message == f"GET http://{web}/503 returned 503, expected 200-399"
    # A redirect is an answer in its own right: 302 passes 200-399, it is not followed.
    narrow = {"url": f"http://{web}/302", "expectedStatus": {"min": 200, "max": 299}}
    assert (await attempt(probe(http=narrow), ctx(), 1))[0] is False


async def test_http_body_regex(web: str) -> None:
    assert (
        await attempt(probe(http={"url": f"http://{web}/", "bodyRegex": "^status 200"}), ctx(), 1)
    )[0]
    ok, message = await attempt(
        probe(http={"url": f"http://{web}/", "bodyRegex": "healthy"}), ctx(), 1
    )
    assert not ok and "body does not match 'healthy'" in message


async def test_http_refused_connection_fails_with_the_error() -> None:
    ok, message = await attempt(probe(http={"url": "http://127.0.0.1:1/"}), ctx(), 1)
    assert not ok and message.startswith("GET http://127.0.0.1:1/:")


async def test_https_is_verified_by_default_and_a_ca_bundle_makes_it_pass(
    tls_web: tuple[str, str],
) -> None:
    where, ca_pem = tls_web
    url = f"https://{where}/"
    ok, message = await attempt(probe(http={"url": url}), ctx(), 2)
    assert not ok and "certificate verify failed" in message
    assert (await attempt(probe(http={"url": url, "caBundle": ca_pem}), ctx(), 2))[0]
    assert (await attempt(probe(http={"url": url, "insecureSkipTlsVerify": True}), ctx(), 2))[0]


async def test_tcp_open_and_closed() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert (await attempt(probe(tcp={"host": "127.0.0.1", "port": port}), ctx(), 1))[0]
    ok, message = await attempt(probe(tcp={"host": "127.0.0.1", "port": port}), ctx(), 1)
    assert not ok and message.startswith(f"connect 127.0.0.1:{port}:")


@pytest.mark.skipif(sys.platform == "win32", reason="posix programs")
async def test_command_exit_status_timeout_and_host_policy() -> None:
    assert (await attempt(probe(command={"path": "/bin/true"}), ctx(), 2))[0]
    ok, message = await attempt(
        probe(command={"path": "/bin/sh", "args": ["-c", "echo db down >&2; exit 3"]}), ctx(), 2
    )
    assert not ok and message == "command /bin/sh exited 3: db down"
    ok, message = await attempt(probe(command={"path": "/bin/sleep", "args": ["5"]}), ctx(), 1)
    assert not ok and "still running after 1 s" in message
    # The narrowest policy (no policy file) runs no code: refused before anything starts.
    ok, message = await attempt(probe(command={"path": "/bin/true"}), ctx(HostPolicy()), 2)
    assert not ok and message.startswith("denied by host policy: ")
    ok, message = await attempt(probe(command={"path": "/nonexistent/tool"}), ctx(), 2)
    assert not ok and "No such file" in message


def _running_service(facade: SimulatedFacade, name: str) -> None:
    facade.service_create(
        name,
        f.ServiceConfig(binary_path=r"C:\svc\app.exe", start_type=f.SERVICE_AUTO_START),
        None,
    )
    facade.service_start(name)


async def test_service_probe_on_the_simulated_facade() -> None:
    facade = SimulatedFacade()
    session = ctx(facade=facade)
    ok, message = await attempt(probe(service={"name": "W3SVC"}), session, 1)
    assert not ok and "W3SVC" in message  # no such service: the SCM's own error
    _running_service(facade, "W3SVC")
    for _ in range(3):  # StartPending until the SCM is asked again
        ok, message = await attempt(probe(service={"name": "W3SVC"}), session, 1)
        if ok:
            break
    assert ok, message
    ok, message = await attempt(probe(service={"name": "W3SVC", "runningSeconds": 60}), session, 1)
    assert not ok and "running for 0 of 60 s" in message
    facade.service_stop("W3SVC")
    facade.service_query("W3SVC")
    ok, message = await attempt(probe(service={"name": "W3SVC"}), session, 1)
    assert not ok and message == "service W3SVC is Stopped"
    assert "W3SVC" not in session.running_since  # a stop restarts the count


async def test_event_log_probe_on_the_simulated_facade() -> None:
    facade = SimulatedFacade()
    session = ctx(facade=facade)
    check = probe(eventLog={"source": "MyApp"})
    facade.add_event(
        "Application",
        f.EventRecord("MyApp", f.EVENTLOG_ERROR_TYPE, 1000, session.applied_at - 60, "old crash"),
    )
    facade.add_event("Application", f.EventRecord("MyApp", 4, 1, session.applied_at + 1, "started"))
    facade.add_event(
        "Application",
        f.EventRecord("Other", f.EVENTLOG_ERROR_TYPE, 7, session.applied_at + 1, "not ours"),
    )
    assert (await attempt(check, session, 1))[0]  # before the apply, not an error, not ours
    facade.add_event(
        "Application",
        f.EventRecord(
            "MyApp", f.EVENTLOG_ERROR_TYPE, 1026, session.applied_at + 2, "unhandled exception"
        ),
    )
    ok, message = await attempt(check, session, 1)
    assert not ok and "event 1026: unhandled exception" in message


async def test_windows_only_probes_say_so_on_this_host() -> None:
    for kind in ({"service": {"name": "W3SVC"}}, {"eventLog": {"source": "MyApp"}}):
        ok, message = await attempt(probe(**kind), ctx(), 1)
        assert not ok and "need Windows" in message
