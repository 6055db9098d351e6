"""A control plane that outlives the command that started it (`transom dev controlplane up`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from transom.dev.controlplane import ControlPlaneError, binaries


def default_dir() -> Path:
    cache = os.environ.get("TRANSOM_CACHE") or str(Path.home() / ".cache" / "transom")
    return Path(cache) / "controlplane"


def _pid(directory: Path) -> int | None:
    try:
        pid = int((directory / "pid").read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def kubeconfig(directory: Path) -> Path:
    return directory / "admin.kubeconfig"


def up(directory: Path, timeout: float = 1800.0) -> Path:
    """Start in the background unless already running; return the admin kubeconfig path.
    The first call may build the binaries (progress goes to stderr)."""
    if _pid(directory) is not None and (directory / "ready").exists():
        return kubeconfig(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ready").unlink(missing_ok=True)
    # Build in the foreground so the user sees progress; the daemon then finds it cached.
    binaries()
    log = (directory / "daemon.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "transom.cli.main",
            "dev",
            "controlplane",
            "up",
            "--foreground",
            "--dir",
            str(directory),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (directory / "pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while not (directory / "ready").exists():
        if proc.poll() is not None:
            tail = (directory / "daemon.log").read_text(errors="replace")[-2000:]
            raise ControlPlaneError(f"control plane exited during start-up:\n{tail}")
        if time.monotonic() > deadline:
            down(directory)
            raise ControlPlaneError("control plane did not become ready")
        time.sleep(0.2)
    return kubeconfig(directory)


def down(directory: Path, timeout: float = 30.0) -> bool:
    """Stop it and remove its directory; False if it was not running."""
    pid = _pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid(directory) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid(directory) is not None:
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(directory, ignore_errors=True)
    return pid is not None
