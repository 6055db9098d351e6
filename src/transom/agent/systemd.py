"""The agent as a systemd service on posix hosts: the unit file, and systemctl around it.

``KillMode=mixed``: on stop only the agent gets SIGTERM (so the change process it is waiting on
finishes, see transom.agent.shutdown); whatever is left of the cgroup gets SIGKILL after
``TimeoutStopSec``. systemctl is run by absolute path, never found through PATH.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transom.agent.servicedef import DESCRIPTION, RESTART_DELAYS_SECONDS, SERVICE_NAME
from transom.agent.shutdown import STOP_TIMEOUT_SECONDS

UNIT_DIR = Path("/etc/systemd/system")
UNIT_NAME = f"{SERVICE_NAME.lower()}.service"
#: Where systemctl is on the distributions we support; the first that exists is used.
SYSTEMCTL_PATHS = (Path("/usr/bin/systemctl"), Path("/bin/systemctl"))


class SystemdError(RuntimeError):
    pass


#: Characters whose meaning differs between systemd's unquoting and the shell's (systemd reads
#: C escapes even inside single quotes): refused rather than guessed at.
_UNQUOTABLE = frozenset("\\'\"")


def _escape(arg: str) -> str:
    """One ExecStart word: systemd expands ``%`` specifiers and ``$`` variables itself, so
    both are escaped; the rest is single-quoted, which systemd reads as the shell does."""
    bad = sorted(c for c in set(arg) if c in _UNQUOTABLE or not c.isprintable())
    if bad:
        raise ValueError(f"a service command word cannot hold {bad!r}: {arg!r}")
    return shlex.quote(arg.replace("%", "%%").replace("$", "$$"))


def unit_text(command: Sequence[str], *, description: str = DESCRIPTION) -> str:
    """The unit that runs ``command`` (the agent, by absolute path) as root."""
    if not command or not Path(command[0]).is_absolute():
        raise ValueError(f"the service command must start with an absolute path, not {command!r}")
    first, second = RESTART_DELAYS_SECONDS[0], RESTART_DELAYS_SECONDS[1]
    return "\n".join(
        [
            "# Written by `transom agent install`; `transom agent uninstall` removes it.",
            "[Unit]",
            f"Description={description}",
            "Wants=network-online.target",
            "After=network-online.target time-sync.target",
            # Restarted however often it fails, as Windows' recovery actions do.
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=exec",
            f"ExecStart={' '.join(_escape(a) for a in command)}",
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={int(STOP_TIMEOUT_SECONDS) + 30}",
            "Restart=on-failure",
            # Windows' 1 then 5 minutes: a delay that grows (systemd 254+; older ones ignore
            # the last two, with a warning, and wait the first delay each time).
            f"RestartSec={first}",
            "RestartSteps=1",
            f"RestartMaxDelaySec={second}",
            "UMask=0077",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def find_systemctl() -> Path | None:
    return next((p for p in SYSTEMCTL_PATHS if p.exists()), None)


@dataclass(frozen=True)
class Systemd:
    """Install, remove and control the unit in ``unit_dir``; ``systemctl`` None: write the
    unit only (no systemd here, or a folder systemd does not load)."""

    unit_dir: Path = UNIT_DIR
    systemctl: Path | None = field(default_factory=find_systemctl)

    @property
    def unit_path(self) -> Path:
        return self.unit_dir / UNIT_NAME

    def install(self, command: Sequence[str]) -> Path:
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.unit_path.with_suffix(".tmp")
        tmp.write_text(unit_text(command), encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(self.unit_path)
        self._ctl("daemon-reload")
        self._ctl("enable", UNIT_NAME)
        return self.unit_path

    def uninstall(self) -> bool:
        """Stop, disable and remove the unit; False when it was not installed."""
        if not self.unit_path.exists():
            return False
        self._ctl("disable", "--now", UNIT_NAME)
        self.unit_path.unlink()
        self._ctl("daemon-reload")
        return True

    def start(self) -> None:
        self._require_installed()
        self._ctl("start", UNIT_NAME)

    def stop(self) -> None:
        self._require_installed()
        self._ctl("stop", UNIT_NAME)

    def status(self) -> str:
        """systemd's ActiveState (active, inactive, failed, ...), or "not installed"."""
        if not self.unit_path.exists():
            return "not installed"
        out = self._ctl("show", "--property=ActiveState", "--value", UNIT_NAME, check=False)
        if self.systemctl is None:
            return "installed (systemctl not used)"
        return out.strip() or "unknown"

    def _require_installed(self) -> None:
        if not self.unit_path.exists():
            raise SystemdError(f"{self.unit_path} does not exist: run `transom agent install`")

    def _ctl(self, *args: str, check: bool = True) -> str:
        if self.systemctl is None:
            return ""
        done = subprocess.run(
            [str(self.systemctl), *args], capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).strip()
            raise SystemdError(f"systemctl {' '.join(args)} exited {done.returncode}: {detail}")
        return done.stdout
