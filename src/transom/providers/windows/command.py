"""Command on Windows: the test and set scripts run in the long-lived PowerShell host."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transom.api.conditions import COMMAND_FAILED
from transom.api.resources.command import CommandProperties
from transom.engine.provider import Change, Context, ProviderError, SetOutcome, State
from transom.providers.windows import facade as f
from transom.providers.windows._common import WindowsProvider, os_call, present

OUTPUT_TAIL = 400


class CommandProvider(WindowsProvider[CommandProperties]):
    kind = "Command"

    def _run(self, script: str, desired: CommandProperties) -> f.CommandResult:
        try:
            with os_call("PowerShell"):
                return self.os.run_command(
                    script,
                    working_directory=desired.working_directory,
                    environment=dict(desired.environment),
                    timeout=float(desired.timeout_seconds),
                )
        except ProviderError as exc:
            raise ProviderError(str(exc), COMMAND_FAILED) from exc

    def get(self, desired: CommandProperties, ctx: Context) -> State:
        # The test script is the state: exit code 0 is present (in the desired state).
        return present(self._run(desired.test, desired)["exitCode"] == 0)

    def set(
        self, desired: CommandProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        done = self._run(desired.set, desired)
        if done["exitCode"] != 0:
            raise ProviderError(
                f"set script exited {done['exitCode']}: {done['output'][-OUTPUT_TAIL:]}",
                COMMAND_FAILED,
            )
        return SetOutcome()

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        return bool(desired == actual)
