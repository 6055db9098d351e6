"""One long-lived Windows PowerShell process, spoken to in JSON lines.

Starting powershell.exe costs 0.2-2 s on Server 2016, and Invoke-DscResource's module discovery
another 0.6 s; one process serves every call and caches discovery (host.ps1). The host script
is passed with -EncodedCommand rather than read from stdin (``-Command -``), so stdin carries
only protocol lines, and rather than as a file (-File), which an AllSigned execution policy set
by Group Policy would refuse.

A request is ``{"id", "script", "args"}`` and a response ``{"id", "ok", "result" | "error"}``,
one per line. Lines that are not a response to the request in flight (stray host output) are
skipped. If the process dies or a call times out, that call fails and the next call starts a
new process: a script is never silently run twice.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import queue
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from typing import IO, Any

from transom.providers.children import ChildRecord, children
from transom.providers.windows.facade import E_FAIL, WAIT_TIMEOUT, WindowsApiError
from transom.providers.windows.system32 import powershell_exe

log = logging.getLogger(__name__)

_EOF = None
_FACILITY_WIN32 = 0x8007_0000


def host_script() -> str:
    return (files("transom.providers.windows") / "host.ps1").read_text(encoding="utf-8")


def operations_script() -> str:
    """The functions Win32Facade calls, defined in each new host process."""
    return (files("transom.providers.windows") / "operations.ps1").read_text(encoding="utf-8")


def encoded_command(prefix: Sequence[str], script: str) -> list[str]:
    """``prefix -EncodedCommand <script as base64 UTF-16LE>``: no quoting, no file."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return [*prefix, "-EncodedCommand", encoded]


def powershell_prefix() -> list[str]:
    """powershell.exe by its absolute path, without profile, prompts or execution policy."""
    return [
        powershell_exe(),
        "-NoLogo",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
    ]


def command_script() -> str:
    """The wrapper a Command resource's script runs in (Win32Facade.run_command)."""
    return (files("transom.providers.windows") / "command.ps1").read_text(encoding="utf-8")


def default_command() -> list[str]:
    return encoded_command(powershell_prefix(), host_script())


def error_code(raw: Any) -> int:
    """A Win32 error code from what PowerShell reported: a Win32Exception's native code, or an
    HRESULT (0x8007xxxx wraps a Win32 code)."""
    if not isinstance(raw, int) or raw == 0:
        return E_FAIL
    code = raw & 0xFFFF_FFFF
    if code & 0xFFFF_0000 == _FACILITY_WIN32:
        return code & 0xFFFF
    return code


class PowerShellHost:
    """Thread-safe: calls are serialised, as the one runspace runs one script at a time."""

    def __init__(
        self,
        command: Sequence[str] | None = None,
        *,
        preamble: str | None = None,
        timeout: float = 900.0,
    ) -> None:
        self._command = list(command) if command is not None else default_command()
        #: Script run in every new process before its first call (function definitions).
        self._preamble = preamble
        self._timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._record: ChildRecord | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=40)
        self._next_id = 0
        self._stderr_pump: threading.Thread | None = None
        #: Processes started so far (the first start counts).
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def invoke(
        self, script: str, args: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Run ``script`` as a script block with ``args`` splatted as named parameters; its
        output as JSON values. Raises WindowsApiError when the script throws, the host dies
        or the call times out."""
        return self._request({"script": script}, args, timeout)

    def call(
        self, command: str, args: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Run a function or cmdlet by name with ``args`` splatted, as ``invoke`` does."""
        return self._request({"command": command}, args, timeout)

    def close(self) -> None:
        with self._lock:
            self._stop()

    # --- internals ----------------------------------------------------------------------------

    def _request(
        self, what: dict[str, str], args: Mapping[str, Any] | None, timeout: float | None
    ) -> Any:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
                if self._preamble is not None:
                    self._send({"script": self._preamble}, None, self._timeout)
            return self._send(what, args, timeout if timeout is not None else self._timeout)

    def _send(self, what: dict[str, str], args: Mapping[str, Any] | None, timeout: float) -> Any:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        self._next_id += 1
        request_id = self._next_id
        line = json.dumps({"id": request_id, **what, "args": dict(args or {})})
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        except OSError:
            self._stop()
            raise WindowsApiError(E_FAIL, "powershell", self._died_message()) from None
        return self._await(request_id, timeout)

    def _await(self, request_id: int, timeout: float) -> Any:
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                self._stop()
                raise WindowsApiError(
                    WAIT_TIMEOUT, "powershell", f"no answer in {timeout:.0f} s; host restarted"
                ) from None
            if line is _EOF:
                self._stop()
                raise WindowsApiError(E_FAIL, "powershell", self._died_message())
            try:
                response = json.loads(line)
            except ValueError:
                response = None
            if not isinstance(response, dict) or response.get("id") != request_id:
                log.debug("powershell host: skipping output line %.200r", line)
                continue
            if response.get("ok"):
                return response.get("result")
            error = response.get("error") or {}
            where = str(error.get("errorId") or error.get("category") or "powershell")
            raise WindowsApiError(
                error_code(error.get("code")), where, str(error.get("message") or "script failed")
            )

    def _start(self) -> None:
        self._stop()
        self._lines = queue.Queue()
        self._stderr.clear()
        proc = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            # No console window flashing up on a desktop session; 0 elsewhere.
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        self._proc = proc
        self._record = children.started(proc.pid, "PowerShell host")
        self.starts += 1
        assert proc.stdout is not None and proc.stderr is not None
        threading.Thread(
            target=_pump, args=(proc.stdout, self._lines.put), daemon=True, name="pwsh-out"
        ).start()
        self._stderr_pump = threading.Thread(
            target=_pump, args=(proc.stderr, self._keep_stderr), daemon=True, name="pwsh-err"
        )
        self._stderr_pump.start()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("powershell host %s did not exit after kill", proc.pid)
        record, self._record = self._record, None
        if record is not None:
            children.ended(record)
        if self._stderr_pump is not None:
            # Its last words are what a "host exited" error quotes.
            self._stderr_pump.join(timeout=2)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _keep_stderr(self, line: str | None) -> None:
        if line:
            self._stderr.append(line)

    def _died_message(self) -> str:
        tail = " | ".join(line.strip() for line in list(self._stderr)[-5:] if line.strip())
        detail = f": {tail}" if tail else ""
        return f"PowerShell host exited{detail}; it restarts on the next call"


def _pump(stream: IO[str], put: Callable[[str | None], None]) -> None:
    """Forward a pipe line by line; None marks its end."""
    try:
        for line in stream:
            put(line.rstrip("\r\n"))
    except (OSError, ValueError):
        pass
    finally:
        put(_EOF)
