"""IisAppPool and IisSite through the WebAdministration module (IIS 10 on Server 2016)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from transom.api import conditions as c
from transom.api.resources.windows import IisAppPoolProperties, IisSiteProperties, SiteBinding
from transom.engine.provider import Change, Context, ProviderError, SetOutcome, State
from transom.providers.windows import facade as f
from transom.providers.windows._common import (
    WindowsProvider,
    fields_to_send,
    fold,
    record_state,
    same_path,
    secret_text,
)
from transom.providers.windows._common import os_call as _os_call
from transom.providers.windows.facade import WindowsApiError

#: Import-Module's error when a module is not installed.
MODULE_NOT_FOUND = "Modules_ModuleNotFound"
WEB_ADMINISTRATION_MISSING = (
    "IIS resources need the WebAdministration PowerShell module, which the "
    "Web-Scripting-Tools feature installs (IIS Management Scripts and Tools): add a "
    "WindowsFeature resource for Web-Scripting-Tools and dependsOn it"
)


@contextmanager
def os_call(what: str) -> Iterator[None]:
    """``_common.os_call``, saying what to install when WebAdministration is missing."""
    try:
        with _os_call(what):
            yield
    except ProviderError as exc:
        cause = exc.__cause__
        if isinstance(cause, WindowsApiError) and (
            MODULE_NOT_FOUND in cause.function or "WebAdministration" in cause.message
        ):
            raise ProviderError(f"{what}: {WEB_ADMINISTRATION_MISSING}", c.NOT_SUPPORTED) from cause
        raise


_POOL_STATE = ("managedRuntimeVersion", "managedPipelineMode", "identityType", "userName", "state")
_SITE_STATE = ("physicalPath", "appPool", "bindings", "state")


class IisAppPoolProvider(WindowsProvider[IisAppPoolProperties]):
    kind = "IisAppPool"

    def get(self, desired: IisAppPoolProperties, ctx: Context) -> State:
        with os_call(f"get app pool {desired.name}"):
            pool = self.os.app_pool_get(desired.name)
        return record_state(pool, _POOL_STATE)

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "userName":
            return bool(fold(desired) == fold(actual))
        return bool(desired == actual)

    def set(
        self, desired: IisAppPoolProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"set app pool {desired.name}"):
            pool: f.AppPoolInfo = {"name": desired.name}
            pool.update(fields_to_send(desired, changes, _POOL_STATE))  # type: ignore[typeddict-item]
            password = None
            if desired.password is not None and (
                {"ensure", "identityType", "userName"} & set(changes)
            ):
                # IIS keeps the password encrypted and never shows it: set it with the user.
                password = secret_text(ctx, desired.password)
                pool["userName"] = desired.user_name or ""
            self.os.app_pool_set(pool, password)
        return SetOutcome()

    def delete(self, desired: IisAppPoolProperties, ctx: Context) -> SetOutcome:
        with os_call(f"remove app pool {desired.name}"):
            self.os.app_pool_remove(desired.name)
        return SetOutcome()


def _binding_key(binding: Mapping[str, Any]) -> tuple[Any, ...]:
    b = SiteBinding.model_validate(binding)
    https = b.protocol.value == "https"
    return (
        b.protocol.value,
        b.ip_address,
        b.port,
        b.host_name.casefold(),
        (b.certificate_thumbprint or "").upper() if https else "",
        b.certificate_store_name.casefold() if https else "",
        b.require_sni and https,
    )


class IisSiteProvider(WindowsProvider[IisSiteProperties]):
    kind = "IisSite"

    def get(self, desired: IisSiteProperties, ctx: Context) -> State:
        with os_call(f"get site {desired.name}"):
            site = self.os.site_get(desired.name)
        return record_state(site, _SITE_STATE)

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        if prop == "physicalPath":
            return same_path(desired, actual)
        if prop == "appPool":
            return bool(fold(desired) == fold(actual))
        if prop == "bindings" and isinstance(desired, list) and isinstance(actual, list):
            return sorted(map(_binding_key, desired)) == sorted(map(_binding_key, actual))
        return bool(desired == actual)

    def set(
        self, desired: IisSiteProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"set site {desired.name}"):
            site: f.SiteInfo = {"name": desired.name}
            site.update(fields_to_send(desired, changes, _SITE_STATE))  # type: ignore[typeddict-item]
            self.os.site_set(site)
        return SetOutcome()

    def delete(self, desired: IisSiteProperties, ctx: Context) -> SetOutcome:
        with os_call(f"remove site {desired.name}"):
            self.os.site_remove(desired.name)
        return SetOutcome()
