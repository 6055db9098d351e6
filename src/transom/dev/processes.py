"""Child processes for dev tooling (control plane, Flux controllers): started with their output
in a log file and tied to this process, so a killed test run leaves no orphans."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

_PR_SET_PDEATHSIG = 1


class Supervisor:
    """start()/stop() as a context manager that never leaves a half-started group running."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def controller_command(kubeconfig: Path, *options: str) -> list[str]:
    """`transom controller run` against KUBECONFIG as a child of this interpreter."""
    return [
        sys.executable,
        "-m",
        "transom.cli.main",
        "controller",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        *options,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """PID is a process that has not ended (a zombie, ended but not yet reaped, has); for
    processes this one did not start, which ``Process.alive`` cannot ask about."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def die_with_parent() -> None:
    # Linux-only dev tooling: the kernel signals the child when the parent dies.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Process:
    name: str
    args: list[str]
    log: Path
    env: Mapping[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - needed for orphan-free teardown
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.popen = None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_ready(
    check: Callable[[], bool],
    proc: Process | None,
    name: str,
    timeout: float,
    error: type[Exception] = RuntimeError,
) -> None:
    """Poll `check` until it holds; fail early, with the log's tail, if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise error(f"{name} exited during start-up:\n{proc.tail()}")
        if check():
            return
        time.sleep(0.1)
    tail = proc.tail() if proc else ""
    raise error(f"{name} not ready after {timeout:.0f} s:\n{tail}")
