"""WindowsFeature and MsiPackage: installs that may need a reboot."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from transom.api import conditions as c
from transom.api.resources.windows import MsiPackageProperties, WindowsFeatureProperties
from transom.engine.provider import Change, Context, ProviderError, SetOutcome, State
from transom.providers.windows import facade as f
from transom.providers.windows._common import WindowsProvider, download, os_call, present
from transom.providers.windows.facade import WindowsApiError

#: Lines of a failed msiexec log that say what went wrong, and how many to report.
_LOG_MARKERS = re.compile(r"return value 3|error \d{4}|returned actual error|failed", re.I)
_LOG_LINES = 15


class WindowsFeatureProvider(WindowsProvider[WindowsFeatureProperties]):
    kind = "WindowsFeature"
    may_reboot = True

    def get(self, desired: WindowsFeatureProperties, ctx: Context) -> State:
        with os_call(f"Get-WindowsFeature {desired.name}"):
            info = self.os.feature_get(desired.name)
            if info is None:
                raise ProviderError(
                    f"no Windows feature named {desired.name} (see Get-WindowsFeature)", c.NOT_FOUND
                )
            state = present(info["installed"])
            if info["installed"] and desired.include_sub_features:
                subs = [self.os.feature_get(s) for s in info["subFeatures"]]
                state["includeSubFeatures"] = all(s is not None and s["installed"] for s in subs)
        return state

    def set(
        self, desired: WindowsFeatureProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        with os_call(f"Install-WindowsFeature {desired.name}"):
            result = self.os.feature_install(
                desired.name,
                sub_features=desired.include_sub_features,
                management_tools=desired.include_management_tools,
                source=desired.source,
            )
        return _feature_outcome(desired, result)

    def delete(self, desired: WindowsFeatureProperties, ctx: Context) -> SetOutcome:
        with os_call(f"Uninstall-WindowsFeature {desired.name}"):
            return _feature_outcome(desired, self.os.feature_uninstall(desired.name))

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        return bool(desired == actual)


def _feature_outcome(desired: WindowsFeatureProperties, result: f.InstallResult) -> SetOutcome:
    if not result["success"]:
        raise ProviderError(f"changing feature {desired.name} did not succeed", c.INSTALL_FAILED)
    return SetOutcome(
        reboot_required=result["restartNeeded"],
        message="restart needed" if result["restartNeeded"] else "",
    )


class MsiPackageProvider(WindowsProvider[MsiPackageProperties]):
    kind = "MsiPackage"
    may_reboot = True

    def get(self, desired: MsiPackageProperties, ctx: Context) -> State:
        with os_call(f"query product {desired.product_code}"):
            state = self.os.msi_product_state(desired.product_code)
        return present(state == f.INSTALLSTATE_DEFAULT)

    def set(
        self, desired: MsiPackageProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        code, log = desired.product_code, self._log(desired)
        with os_call(f"msiexec for {code}"):
            package, sha256 = self._package(desired)
            exit_code = self.os.msi_install(package, desired.arguments, log, sha256=sha256)
        return self._outcome(code, log, exit_code)

    def delete(self, desired: MsiPackageProperties, ctx: Context) -> SetOutcome:
        code, log = desired.product_code, self._log(desired)
        with os_call(f"msiexec for {code}"):
            exit_code = self.os.msi_uninstall(code, log)
        if exit_code == f.ERROR_UNKNOWN_PRODUCT:
            return SetOutcome()
        return self._outcome(code, log, exit_code)

    def _log(self, desired: MsiPackageProperties) -> str:
        code = desired.product_code
        return desired.log_path or f"{self.os.staging_dir()}\\msi-{code.strip('{}')}.log"

    def _outcome(self, code: str, log: str, exit_code: int) -> SetOutcome:
        if exit_code in (f.ERROR_SUCCESS_REBOOT_REQUIRED, f.ERROR_SUCCESS_REBOOT_INITIATED):
            return SetOutcome(reboot_required=True, message=f"msiexec exit code {exit_code}")
        if exit_code == 0:
            return SetOutcome()
        if exit_code == f.ERROR_INSTALL_ALREADY_RUNNING:
            raise ProviderError(
                "another installation is in progress (msiexec 1618); will retry",
                c.INSTALL_IN_PROGRESS,
            )
        raise ProviderError(
            f"msiexec exit code {exit_code} for {code}; log {log}:\n{self._log_tail(log)}",
            c.INSTALL_FAILED,
        )

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        return bool(desired == actual)

    def _package(self, desired: MsiPackageProperties) -> tuple[str, str | None]:
        """The package to run and, for a download, the digest msiexec's input must have."""
        if desired.path is not None:
            return desired.path, None
        assert desired.source is not None  # the model requires path or source
        data = download(desired.source.url, desired.source.sha256)
        # In the protected staging directory (no user can plant or swap it there), and
        # checked again on the handle held while msiexec runs.
        local = f"{self.os.staging_dir()}\\{desired.source.sha256}.msi"
        self.os.file_write_atomic(local, data)
        return local, desired.source.sha256

    def _log_tail(self, log: str) -> str:
        try:
            raw = self.os.file_read(log)
        except WindowsApiError:
            return "(no log)"
        # msiexec writes UTF-16 with a BOM under /l*v.
        text = (
            raw.decode("utf-16")
            if raw[:2] in (b"\xff\xfe", b"\xfe\xff")
            else raw.decode("utf-8", errors="replace")
        )
        lines = text.splitlines()
        marked = [ln for ln in lines if _LOG_MARKERS.search(ln)]
        return "\n".join((marked or lines)[-_LOG_LINES:])
