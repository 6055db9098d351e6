"""Each probe kind against the real thing it checks: an HTTP(S) server and a TCP listener on
loopback, real programs (this interpreter), and the simulated Windows facade's event log. All
of it runs on Linux and in the Windows lane (Windows CPython under Wine); the service probe's
tests, on both facades, are tests/unit/windows/test_service_probe.py. Without a Windows facade
the Windows-only probes say so."""

from __future__ import annotations

import asyncio
import http.server
import os
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
from transom.providers.children import process_start_time
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


def python(code: str, *args: str) -> dict[str, Any]:
    """A command probe running this interpreter: an absolute path on every host, the lane's
    Windows CPython included."""
    return {"command": {"path": sys.executable, "args": ["-c", code, *args]}}


async def test_command_passes_on_exit_0_and_fails_with_the_status_and_stderr() -> None:
    assert await attempt(probe(**python("pass")), ctx(), 60) == (
        True,
        f"command {sys.executable} exited 0",
    )
    failing = python("import sys; sys.stderr.write('db down'); sys.exit(3)")
    assert await attempt(probe(**failing), ctx(), 60) == (
        False,
        f"command {sys.executable} exited 3: db down",
    )


async def test_command_arguments_reach_the_program_as_written() -> None:
    # No shell, so nothing in an argument is expanded, split, redirected or chained.
    literal = 'a & echo injected | %PATH% $HOME "quoted" > out; `id`'
    echo = python("import sys; sys.stderr.write(sys.argv[1]); sys.exit(1)", literal)
    assert await attempt(probe(**echo), ctx(), 60) == (
        False,
        f"command {sys.executable} exited 1: {literal}",
    )


async def test_command_is_killed_at_the_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    sleeper = python(
        "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)",
        str(pid_file),
    )
    timeout = 2.0
    while True:
        assert await attempt(probe(**sleeper), ctx(), timeout) == (
            False,
            f"command {sys.executable}: still running after {timeout:g} s",
        )
        if pid_file.exists() and pid_file.read_text():
            break
        # Killed before it even wrote its PID (a loaded machine): give it longer.
        timeout *= 2
        assert timeout <= 64, "the program never started"
    assert process_start_time(int(pid_file.read_text())) is None  # ended, not left running


async def test_command_path_policy_and_missing_program() -> None:
    # Absolute in the other OS's flavour only: this host would look it up relative to something.
    foreign = "/usr/bin/check" if os.name == "nt" else "C:\\Tools\\check.exe"
    assert await attempt(probe(command={"path": foreign}), ctx(), 5) == (
        False,
        f"command {foreign}: not an absolute path on this host",
    )
    # The narrowest policy (no policy file) runs no code: refused before anything starts.
    ok, message = await attempt(probe(**python("pass")), ctx(HostPolicy()), 5)
    assert not ok and message.startswith("denied by host policy: ")
    missing = str(Path(sys.executable).parent / "no-such-program.exe")
    ok, message = await attempt(probe(command={"path": missing}), ctx(), 5)
    assert not ok and message.startswith(f"command {missing}: ")


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


async def test_windows_only_probes_say_so_without_a_windows_facade() -> None:
    for kind in ({"service": {"name": "W3SVC"}}, {"eventLog": {"source": "MyApp"}}):
        ok, message = await attempt(probe(**kind), ctx(), 1)
        assert not ok and "need Windows" in message
