"""Command on posix: the test and set commands run with /bin/sh."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from typing import ClassVar

from transom.api.conditions import COMMAND_FAILED
from transom.api.resources import Ensure
from transom.api.resources.command import CommandProperties
from transom.engine.provider import Change, Context, Provider, ProviderError, SetOutcome, State
from transom.providers.children import children, popen_options

SHELL = "/bin/sh"
OUTPUT_TAIL = 400
#: How often a running command is checked for a shell that exited before its pipes closed.
SHELL_POLL_SECONDS = 0.5


def run_shell(command: str, desired: CommandProperties) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in its own process group, recorded while it runs (see
    transom.providers.children); on timeout the whole group is killed, not only the shell."""
    env = {**os.environ, **desired.environment}
    with (
        subprocess.Popen(
            [SHELL, "-c", command],
            cwd=desired.working_directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen_options(),
        ) as proc,
        children.tracking(proc, f"command {command[:80]!r}"),
    ):
        out, err = _communicate(proc, command, desired.timeout_seconds)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _communicate(proc: subprocess.Popen[str], command: str, timeout: float) -> tuple[str, str]:
    """The shell's output. A process it left running (``cmd &``) keeps the pipes open: once
    the shell has exited, its group is killed so that does not hold the agent up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return proc.communicate(timeout=min(SHELL_POLL_SECONDS, timeout))
        except subprocess.TimeoutExpired:
            if proc.poll() is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                continue
            if time.monotonic() < deadline:
                continue
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise ProviderError(
                f"command timed out after {timeout} s: {command[:80]}", reason=COMMAND_FAILED
            ) from None


class CommandProvider(Provider[CommandProperties]):
    kind: ClassVar[str] = "Command"

    def get(self, desired: CommandProperties, ctx: Context) -> State:
        # The test command is the state: exit 0 is present (in the desired state).
        passed = run_shell(desired.test, desired).returncode == 0
        return {"ensure": (Ensure.PRESENT if passed else Ensure.ABSENT).value}

    def set(
        self, desired: CommandProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        done = run_shell(desired.set, desired)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-OUTPUT_TAIL:]
            raise ProviderError(
                f"set command exited {done.returncode}: {tail}", reason=COMMAND_FAILED
            )
        return SetOutcome()
