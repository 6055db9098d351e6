"""FirewallRule through the NetSecurity cmdlets (present since Server 2012)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transom.api.resources.windows import FirewallRuleProperties
from transom.engine.provider import Change, Context, SetOutcome, State
from transom.providers.windows import facade as f
from transom.providers.windows._common import (
    WindowsProvider,
    fields_to_send,
    fold,
    os_call,
    record_state,
    same_path,
)

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
        return record_state(rule, _STATE)

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
            send = fields_to_send(desired, changes, _STATE)
            # Ports only mean something with their protocol: send both together.
            if "localPorts" in send:
                send.update(fields_to_send(desired, {"protocol": None}, ("protocol",)))
            rule: f.FirewallRuleInfo = {"name": desired.name}
            rule.update(send)  # type: ignore[typeddict-item]
            self.os.firewall_rule_set(rule)
        return SetOutcome()

    def delete(self, desired: FirewallRuleProperties, ctx: Context) -> SetOutcome:
        with os_call(f"remove firewall rule {desired.name}"):
            self.os.firewall_rule_remove(desired.name)
        return SetOutcome()
