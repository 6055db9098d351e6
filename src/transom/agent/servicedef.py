"""What the agent's service is, on every OS: its name, text, restart policy and command line.

One place, so the Windows service and the systemd unit cannot drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVICE_NAME = "TransomAgent"
DISPLAY_NAME = "Transom agent"
DESCRIPTION = (
    "Keeps this host in the state its Transom Assignments describe (GitOps through Flux): "
    "applies changes, corrects drift and reports to the cluster. Stopping it stops "
    "configuration management; nothing is undone."
)
#: After a crash: restart after 1 minute, then after 5 minutes (and for every later failure);
#: the failure count starts again after a day without one.
RESTART_DELAYS_SECONDS = (60, 300)
FAILURE_RESET_SECONDS = 86400


@dataclass(frozen=True)
class RunOptions:
    """The `transom agent run` options the service is installed with."""

    state_dir: Path
    config: Path | None = None
    roots: Sequence[str] = ()
    policy: Path | None = None
    log_level: str = "INFO"
    extra: Sequence[str] = field(default_factory=tuple)

    def arguments(self) -> list[str]:
        args = [f"--state-dir={self.state_dir}"]
        if self.config is not None:
            args.append(f"--config={self.config}")
        args += [f"--root={r}" for r in self.roots]
        if self.policy is not None:
            args.append(f"--policy={self.policy}")
        return [*args, f"--log-level={self.log_level}", *self.extra]


def service_command(options: RunOptions, *, windows_service: bool = False) -> list[str]:
    """The absolute command line the service manager starts: this Python, isolated (``-I``:
    no PYTHON* variables, no user site, not the working folder on the module path, which for
    a service is System32), running `transom agent run`."""
    python = Path(sys.executable).resolve()
    if windows_service:
        # pythonw.exe: a service has no console, and no standard handles to give python.exe.
        windowless = python.with_name("pythonw.exe")
        python = windowless if windowless.is_file() else python
    if windows_service:
        # The service host calls the dispatcher before anything heavy is imported.
        return [str(python), "-I", "-m", "transom.agent.servicehost", *options.arguments()]
    return [str(python), "-I", "-m", "transom.cli.main", "agent", "run", *options.arguments()]
