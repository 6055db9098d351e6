"""FirewallRule through the NetSecurity cmdlets (present since Server 2012)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transom.api.resources.windows import FirewallRuleProperties
from transom.engine.provider import Change, Context, SetOutcome, State
from transom.providers.windows import facade as f
from transom.providers.windows._common import WindowsProvider, fold, os_call, present, same_path

_STATE = (
    "displayName",
    "direction",
    "action",
    "protocol",
    "localPorts",
    "remoteAddresses",
    "program",
    "profiles",
    "enabled",
)
_ALL_PROFILES = frozenset({"domain", "private", "public"})


def _profiles(value: Any) -> frozenset[str]:
    names = frozenset(fold(v) for v in value) if isinstance(value, list) else frozenset()
    # Windows reports Any for all three; an empty list means the same.
    return _ALL_PROFILES if not names or "any" in names else names


class FirewallRuleProvider(WindowsProvider[FirewallRuleProperties]):
    kind = "FirewallRule"

    def get(self, desired: FirewallRuleProperties, ctx: Context) -> State:
        with os_call(f"Get-NetFirewallRule {desired.name}"):
            rule = self.os.firewall_rule_get(desired.name)
        if rule is None:
            return present(False)
        state: State = {"ensure": "present"}
        state.update({k: v for k, v in rule.items() if k in _STATE})
        return state

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "profiles":
            return _profiles(desired) == _profiles(actual)
        if prop in ("localPorts", "remoteAddresses"):
            # Sets: Windows keeps its own order. An absent filter is Any.
            return sorted(fold(desired or ["any"])) == sorted(fold(actual or ["any"]))
        if prop == "program":
            return same_path(desired, actual)
        if prop == "protocol":
            return bool(fold(desired) == fold(actual))
        return bool(desired == actual)

    def set(
        self, desired: FirewallRuleProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"set firewall rule {desired.name}"):
            if desired.ensure.value == "absent":
                self.os.firewall_rule_remove(desired.name)
                return SetOutcome()
            wire = desired.model_dump(mode="json", by_alias=True, exclude_none=True)
            keys = _STATE if "ensure" in changes else tuple(changes)
            rule: f.FirewallRuleInfo = {"name": desired.name}
            rule.update({k: wire[k] for k in keys if k in wire})  # type: ignore[typeddict-item]
            # Ports only mean something with their protocol: send both together.
            if "localPorts" in rule and "protocol" in wire:
                rule["protocol"] = wire["protocol"]
            self.os.firewall_rule_set(rule)
        return SetOutcome()
