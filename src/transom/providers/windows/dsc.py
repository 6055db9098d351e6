"""DscResource: any DSC v1 resource, judged by its own Test method."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transom.api.resources.windows import DscResourceProperties
from transom.engine.provider import Change, Context, SetOutcome, State
from transom.providers.windows._common import WindowsProvider, fold, os_call

#: DSC v3's canonical property: set in the reported state when Test says the resource drifted
#: but Get shows every desired value (Get often omits what Test checks, e.g. credentials).
IN_DESIRED_STATE = "_inDesiredState"


class DscResourceProvider(WindowsProvider[DscResourceProperties]):
    kind = "DscResource"
    may_reboot = True

    def get(self, desired: DscResourceProperties, ctx: Context) -> State:
        args = (desired.module, desired.version, desired.name, dict(desired.properties))
        with os_call(f"Invoke-DscResource {desired.module}/{desired.name}"):
            if self.os.dsc_invoke("Test", *args).get("inDesiredState", False):
                return {"ensure": "present", "properties": desired.properties}
            got = self.os.dsc_invoke("Get", *args).get("properties", {})
        wanted = {k.casefold() for k in desired.properties}
        actual = {k: v for k, v in got.items() if k.casefold() in wanted}
        if self.equal("properties", desired.properties, actual):
            actual[IN_DESIRED_STATE] = False
        return {"ensure": "present", "properties": actual}

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        # PowerShell property names and most string comparisons are case-insensitive.
        return bool(fold(desired) == fold(actual))

    def set(
        self, desired: DscResourceProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"Invoke-DscResource -Method Set {desired.module}/{desired.name}"):
            result = self.os.dsc_invoke(
                "Set", desired.module, desired.version, desired.name, dict(desired.properties)
            )
        reboot = bool(result.get("rebootRequired", False))
        return SetOutcome(reboot_required=reboot, message="reboot required" if reboot else "")
