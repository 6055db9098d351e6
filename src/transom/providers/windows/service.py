"""Service: configuration through the service control manager, then the run state."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from transom.api import conditions as c
from transom.api.resources.windows import (
    RecoveryActionType,
    ServiceProperties,
    ServiceRecovery,
    ServiceState,
    StartType,
)
from transom.engine.provider import Change, Context, ProviderError, SetOutcome, State, WatchTarget
from transom.providers.windows import facade as f
from transom.providers.windows._common import WindowsProvider, fold, os_call, present, secret_text
from transom.providers.windows.facade import WindowsApiError
from transom.providers.windows.registry import registry_target

_START_TYPES: dict[StartType, tuple[int, bool]] = {
    StartType.AUTOMATIC: (f.SERVICE_AUTO_START, False),
    StartType.AUTOMATIC_DELAYED_START: (f.SERVICE_AUTO_START, True),
    StartType.MANUAL: (f.SERVICE_DEMAND_START, False),
    StartType.DISABLED: (f.SERVICE_DISABLED, False),
}
_ACTIONS = {
    RecoveryActionType.NONE: f.SC_ACTION_NONE,
    RecoveryActionType.RESTART: f.SC_ACTION_RESTART,
    RecoveryActionType.REBOOT: f.SC_ACTION_REBOOT,
    RecoveryActionType.RUN_COMMAND: f.SC_ACTION_RUN_COMMAND,
}
_ACTION_NAMES = {code: name for name, code in _ACTIONS.items()}
#: A paused service is neither: it shows as Paused, so Running (continue) or Stopped is drift.
_STATE_NAMES = {
    f.SERVICE_RUNNING: ServiceState.RUNNING.value,
    f.SERVICE_STOPPED: ServiceState.STOPPED.value,
    f.SERVICE_PAUSED: "Paused",
}
#: Names the SCM accepts for the same built-in accounts.
_ACCOUNT_ALIASES = {
    "nt authority\\system": "localsystem",
    ".\\localsystem": "localsystem",
    "nt authority\\networkservice": "nt authority\\network service",
    "nt authority\\localservice": "nt authority\\local service",
}


def _start_type(config: f.ServiceConfig) -> str:
    if config.start_type == f.SERVICE_AUTO_START:
        return (
            StartType.AUTOMATIC_DELAYED_START if config.delayed_auto_start else StartType.AUTOMATIC
        ).value
    if config.start_type == f.SERVICE_DISABLED:
        return StartType.DISABLED.value
    # Boot and system start types belong to drivers; Manual is the nearest service meaning.
    return StartType.MANUAL.value


def _account(name: str) -> str:
    folded = name.casefold()
    return _ACCOUNT_ALIASES.get(folded, folded)


def recovery_wire(actions: f.FailureActions) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resetPeriodSeconds": actions.reset_period,
        "actions": [
            {
                "type": _ACTION_NAMES.get(kind, RecoveryActionType.NONE).value,
                "delaySeconds": delay // 1000,
            }
            for kind, delay in actions.actions
        ],
    }
    if actions.command:
        out["command"] = actions.command
    return out


def recovery_native(recovery: ServiceRecovery) -> f.FailureActions:
    return f.FailureActions(
        reset_period=recovery.reset_period_seconds,
        command=recovery.command or "",
        actions=tuple((_ACTIONS[a.type], a.delay_seconds * 1000) for a in recovery.actions),
    )


class ServiceProvider(WindowsProvider[ServiceProperties]):
    kind = "Service"
    #: How long a start or stop may take, and how often to look (the SCM's own wait hint is
    #: usually far longer than the services we manage need).
    transition_timeout = 60.0
    poll_interval = 0.1

    def get(self, desired: ServiceProperties, ctx: Context) -> State:
        try:
            config, state = self.os.service_query(desired.name)
        except WindowsApiError as exc:
            if exc.winerror == f.ERROR_SERVICE_DOES_NOT_EXIST:
                return present(False)
            with os_call(f"query service {desired.name}"):
                raise
        if state in (f.SERVICE_START_PENDING, f.SERVICE_STOP_PENDING):
            state = self._settle(desired.name)
        out: State = {
            "ensure": "present",
            "displayName": config.display_name,
            "description": config.description,
            "binaryPath": config.binary_path,
            "startType": _start_type(config),
            "state": _STATE_NAMES.get(state, ServiceState.STOPPED.value),
            "account": config.account,
        }
        if desired.recovery is not None:
            with os_call(f"query recovery actions of {desired.name}"):
                out["recovery"] = recovery_wire(self.os.service_query_failure_actions(desired.name))
        return out

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "account" and isinstance(desired, str) and isinstance(actual, str):
            return _account(desired) == _account(actual)
        if prop == "recovery" and isinstance(desired, dict) and isinstance(actual, dict):
            return bool(fold(desired) == fold(actual))
        return bool(desired == actual)

    def set(
        self, desired: ServiceProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        name = desired.name
        if "ensure" in changes:
            self._create(desired, ctx)
            changes = {p: Change(p, None, None) for p in ("recovery", "state")}
        else:
            self._reconfigure(desired, changes, ctx)
        if "recovery" in changes and desired.recovery is not None:
            with os_call(f"set recovery actions of {name}"):
                self.os.service_set_failure_actions(name, recovery_native(desired.recovery))
        if "state" in changes and desired.state is not None:
            self._run_state(name, desired.state)
        return SetOutcome()

    def delete(self, desired: ServiceProperties, ctx: Context) -> SetOutcome:
        self._remove(desired.name)
        return SetOutcome()

    def watch_targets(self, desired: ServiceProperties) -> list[WatchTarget]:
        # Status notifications say nothing of configuration: watch the service's key too.
        return [
            WatchTarget("service", desired.name),
            registry_target("HKLM", f"SYSTEM\\CurrentControlSet\\Services\\{desired.name}", 64),
        ]

    # --- steps --------------------------------------------------------------------------------

    def _create(self, desired: ServiceProperties, ctx: Context) -> None:
        if desired.binary_path is None:
            raise ProviderError(
                f"service {desired.name} does not exist and binaryPath is not "
                "set, so it cannot be created",
                c.INVALID_SPEC,
            )
        start, delayed = _START_TYPES[desired.start_type or StartType.AUTOMATIC]
        config = f.ServiceConfig(
            binary_path=desired.binary_path,
            start_type=start,
            delayed_auto_start=delayed,
            display_name=desired.display_name or desired.name,
            account=desired.account or "LocalSystem",
            description=desired.description or "",
        )
        password = secret_text(ctx, desired.password) if desired.password else None
        with os_call(f"create service {desired.name}"):
            self.os.service_create(desired.name, config, password)

    def _reconfigure(
        self, desired: ServiceProperties, changes: Mapping[str, Change], ctx: Context
    ) -> None:
        kwargs: dict[str, Any] = {}
        if "binaryPath" in changes:
            kwargs["binary_path"] = desired.binary_path
        if "startType" in changes and desired.start_type is not None:
            kwargs["start_type"], kwargs["delayed_auto_start"] = _START_TYPES[desired.start_type]
        if "displayName" in changes:
            kwargs["display_name"] = desired.display_name
        if "description" in changes:
            kwargs["description"] = desired.description
        if "account" in changes:
            kwargs["account"] = desired.account
            # Windows cannot read a password back: it goes with every account change.
            if desired.password is not None:
                kwargs["password"] = secret_text(ctx, desired.password)
        if kwargs:
            with os_call(f"change service {desired.name}"):
                self.os.service_change(desired.name, **kwargs)

    def _remove(self, name: str) -> None:
        with os_call(f"delete service {name}"):
            _, state = self.os.service_query(name)
            if state != f.SERVICE_STOPPED:
                self._run_state(name, ServiceState.STOPPED)
            self.os.service_delete(name)

    def _run_state(self, name: str, want: ServiceState) -> None:
        with os_call(f"{'start' if want is ServiceState.RUNNING else 'stop'} service {name}"):
            state = self._settle(name)
            if want is ServiceState.RUNNING and state == f.SERVICE_PAUSED:
                self.os.service_continue(name)
            elif want is ServiceState.RUNNING and state != f.SERVICE_RUNNING:
                self.os.service_start(name)
            elif want is ServiceState.STOPPED and state != f.SERVICE_STOPPED:
                self.os.service_stop(name)
            final = self._settle(name)
        if want is ServiceState.RUNNING and final != f.SERVICE_RUNNING:
            raise ProviderError(
                f"service {name} stopped while starting; see the System event "
                "log (Service Control Manager) for why",
                c.SERVICE_START_FAILED,
            )
        if want is ServiceState.STOPPED and final != f.SERVICE_STOPPED:
            raise ProviderError(f"service {name} did not stop", c.SERVICE_TIMEOUT)

    def _settle(self, name: str) -> int:
        """Wait out StartPending/StopPending; the settled state."""
        deadline = time.monotonic() + self.transition_timeout
        while True:
            _, state = self.os.service_query(name)
            if state not in (f.SERVICE_START_PENDING, f.SERVICE_STOP_PENDING):
                return state
            if time.monotonic() > deadline:
                doing = "starting" if state == f.SERVICE_START_PENDING else "stopping"
                raise ProviderError(
                    f"service {name} still {doing} after {self.transition_timeout:.0f} s",
                    c.SERVICE_TIMEOUT,
                )
            time.sleep(self.poll_interval)
