"""Command on posix: the test and set commands run with /bin/sh."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from typing import ClassVar

from transom.api.conditions import COMMAND_FAILED
from transom.api.resources import Ensure
from transom.api.resources.command import CommandProperties
from transom.engine.provider import Change, Context, Provider, ProviderError, SetOutcome, State

SHELL = "/bin/sh"
OUTPUT_TAIL = 400


def run_shell(command: str, desired: CommandProperties) -> subprocess.CompletedProcess[str]:
    """Run ``command``; on timeout kill its whole process group, not only the shell."""
    env = {**os.environ, **desired.environment}
    with subprocess.Popen(
        [SHELL, "-c", command],
        cwd=desired.working_directory,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=desired.timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise ProviderError(
                f"command timed out after {desired.timeout_seconds} s: {command[:80]}",
                reason=COMMAND_FAILED,
            ) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


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
