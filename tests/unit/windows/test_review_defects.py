"""One test per defect a review of the Windows code found (issue: "Windows for real"), each
failing on the code before its fix. Where the defect lives in win32.py, the test drives the real
facade over stand-ins as strict as Windows (fake_pwsh, fake_pywin32); where it lives in a
provider, over the simulated facade. Tests needing real Windows say so in their skip reason."""

from __future__ import annotations

import hashlib
import io
import json
import ntpath
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from transom.api.resources.archive import ArchiveProperties
from transom.engine import atomicfile
from transom.engine.provider import ProviderError
from transom.providers.posix import archive
from transom.providers.posix.download import DigestCache
from transom.providers.windows import facade as f
from transom.providers.windows import win32
from transom.providers.windows.powershell import PowerShellHost, default_command
from transom.providers.windows.simulated import SimPackage, SimulatedFacade
from transom.providers.windows.system32 import system_dir

from . import fake_pywin32
from .conftest import apply, converges, engine

FAKE_PWSH = str(Path(__file__).with_name("fake_pwsh.py"))
PRODUCT = "{6F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9}"


def _fake_host() -> PowerShellHost:
    return PowerShellHost([sys.executable, FAKE_PWSH], timeout=20)


# --- 1. Command exit codes --------------------------------------------------------------------


def test_1_command_exit_codes_are_the_scripts_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """fake_pwsh models both ways to run a script: the removed in-host AddScript (exit N reads
    as 0; SilentlyContinue still sets HadErrors) and powershell.exe's process exit code."""
    monkeypatch.setattr(
        win32, "powershell_prefix", lambda: [sys.executable, FAKE_PWSH, "--process"], raising=False
    )
    real = win32.Win32Facade(_fake_host())
    try:

        def run(script: str, cwd: str | None = None) -> tuple[int, str]:
            done = real.run_command(
                script, working_directory=cwd, environment={"TRANSOM_X": "1"}, timeout=30
            )
            return done["exitCode"], done["output"]

        assert run("exit 3")[0] == 3
        assert run("'before'; exit 4; 'after'") == (4, "before")
        assert run("cmd.exe /c exit 5")[0] == 5
        assert run("Write-Error 'boom'")[0] == 1
        assert run("Write-Error 'quiet' -ErrorAction SilentlyContinue; 'ok'") == (0, "ok")
        assert run("$env:TRANSOM_X") == (0, "1")
        assert run("(Get-Location).Path", cwd=str(tmp_path)) == (0, str(tmp_path))
    finally:
        real.close()


# --- 2. protected state directory: tests/unit/agent/test_statedir.py, test_statedir_windows.py


# --- 3. downloads staged where only SYSTEM and Administrators write, checked on the handle ----


def test_3_downloaded_msi_is_staged_in_the_protected_directory(
    sim: SimulatedFacade, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"MSI package bytes"
    digest = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(
        "transom.providers.windows._common.urllib.request.urlopen",
        lambda url, timeout: io.BytesIO(data),
    )
    staged = f"{sim.staging}\\{digest}.msi"
    sim.packages[staged.lower()] = SimPackage(PRODUCT)
    item = {
        "name": "app",
        "msiPackage": {
            "productCode": PRODUCT,
            "source": {"url": "https://files.example/app.msi", "sha256": digest},
        },
    }
    converges(engine(sim), item)
    assert PRODUCT in sim.products
    # Nobody but SYSTEM and Administrators could have planted or swapped it.
    assert sim.untrusted_writers(staged) == []
    user = sim.add_account("WIN-SIM\\mallory")
    with pytest.raises(f.WindowsApiError):
        sim.plant(f"{sim.staging}\\evil.msi", b"x", owner=user)


def test_3_msiexec_runs_what_was_checked_on_the_held_handle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real facade opens the package without write/delete sharing, hashes it through
    that handle and holds it while msiexec runs."""
    package = tmp_path / "app.msi"
    package.write_bytes(b"good package")
    opened: list[int] = []
    ran: list[list[str]] = []

    class Handle:
        def __init__(self, path: str, share: int) -> None:
            self.file, self.share = open(path, "rb"), share  # noqa: SIM115, PTH123
            opened.append(share)

        def Close(self) -> None:  # noqa: N802
            self.file.close()
            opened.remove(self.share)

    wf = type(sys)("win32file")
    wf.CreateFile = lambda path, access, share, *rest: Handle(path, share)  # type: ignore[attr-defined]
    wf.ReadFile = lambda h, size: (0, h.file.read(size))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "win32file", wf)

    def msiexec(args: list[str]) -> int:
        assert opened == [0x1], "the package is held open, read sharing only"
        ran.append(args)
        return 0

    monkeypatch.setattr(win32, "_msiexec", msiexec)
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    good = hashlib.sha256(b"good package").hexdigest()
    assert real.msi_install(str(package), [], "log", sha256=good) == 0
    assert len(ran) == 1 and opened == []
    package.write_bytes(b"swapped")
    with pytest.raises(f.WindowsApiError) as caught:
        real.msi_install(str(package), [], "log", sha256=good)
    assert caught.value.winerror == f.ERROR_INVALID_DATA and len(ran) == 1


def test_3_archive_is_checked_on_the_handle_it_extracts_from(tmp_path: Path) -> None:
    """Swapping the cached zip after its check changes nothing: extraction reads the handle
    the digest was computed on."""
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a.txt", "good")
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    cache = DigestCache()
    with cache.open_verified(str(good), digest) as handle:
        evil = tmp_path / "evil.zip"
        with zipfile.ZipFile(evil, "w") as zf:
            zf.writestr("a.txt", "evil")
        if os.name == "nt":
            # Windows: the checked handle (no delete sharing) blocks the swap itself.
            with pytest.raises(PermissionError):
                evil.replace(good)
            evil.unlink()
        else:
            evil.replace(good)
        assert zipfile.ZipFile(handle).read("a.txt") == b"good"
    if os.name == "nt":
        good.write_bytes(b"not the checked zip")
    with pytest.raises(ProviderError):
        cache.open_verified(str(good), digest)


def test_3_no_default_download_cache_in_the_shared_temp_folder() -> None:
    import tempfile

    provider = archive.ArchiveProvider()
    assert not provider.cache_dir.startswith(tempfile.gettempdir())


# --- 4. DPAPI in machine scope: tests/unit/windows/test_dpapi_store.py ----------------------


# --- 5. ACLs compare SIDs ---------------------------------------------------------------------


def test_5_acl_rules_converge_whatever_the_account_spelling(sim: SimulatedFacade) -> None:
    sim.add_account("WIN-SIM\\deploy")
    sim.add_account("CONTOSO\\web", upn="web@contoso.com")
    sim.dir_create("C:\\site")
    rules = [
        {"identity": "Administrators", "rights": "FullControl"},
        {"identity": "SYSTEM", "rights": "FullControl"},
        {"identity": ".\\deploy", "rights": "Modify"},
        {"identity": "web@contoso.com", "rights": "ReadAndExecute"},
    ]
    item = {"name": "d", "directory": {"path": "C:\\site", "acl": rules}}
    converges(engine(sim), item)
    for _ in range(2):
        apply(engine(sim), item)
    # Windows reads them back as BUILTIN\Administrators, NT AUTHORITY\SYSTEM, ...; one each.
    names = sorted(a.identity for a in sim.acl_get("C:\\site"))
    assert names == [
        "BUILTIN\\Administrators",
        "CONTOSO\\web",
        "NT AUTHORITY\\SYSTEM",
        "WIN-SIM\\deploy",
    ]


def test_5_unknown_account_fails_with_the_lookup_error(sim: SimulatedFacade) -> None:
    sim.dir_create("C:\\site")
    item = {
        "name": "d",
        "directory": {"path": "C:\\site", "acl": [{"identity": "nobody", "rights": "Read"}]},
    }
    report = apply(engine(sim), item)
    assert report.failed and "No mapping between account names" in report.results[0].message


# --- 6. firewall rename -----------------------------------------------------------------------


def test_6_firewall_rule_rename_uses_new_display_name() -> None:
    """fake_pwsh binds Set-NetFirewallRule's parameter sets as NetSecurity does: -Name with
    -DisplayName cannot be resolved."""
    real = win32.Win32Facade(_fake_host())
    try:
        real.firewall_rule_set({"name": "Web-In", "displayName": "Web", "localPorts": ["443"]})
        real.firewall_rule_set({"name": "Web-In", "displayName": "Web (HTTPS)"})
        rule = real.firewall_rule_get("Web-In")
        assert rule is not None and rule["displayName"] == "Web (HTTPS)"
    finally:
        real.close()


def test_6_firewall_parameters_per_cmdlet() -> None:
    new, change = win32.firewall_parameters(
        {"name": "r", "displayName": "R", "profiles": ["Domain", "Private"], "enabled": False}
    )
    assert new == {"DisplayName": "R", "Profile": "Domain,Private", "Enabled": "False"}
    assert change == {"NewDisplayName": "R", "Profile": "Domain,Private", "Enabled": "False"}
    new, change = win32.firewall_parameters({"name": "r", "direction": "Inbound"})
    assert new == {"Direction": "Inbound", "DisplayName": "r"} and change == {
        "Direction": "Inbound"
    }


# --- 7. archive clean on NTFS -----------------------------------------------------------------


def test_7_archive_clean_compares_names_as_ntfs_does(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("Bin/App.dll", b"MZ")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "app.dll").write_bytes(b"MZ")  # how NTFS may have it spelled
    (tmp_path / "bin" / "stale.dll").write_bytes(b"old")
    with zipfile.ZipFile(buffer) as zf:
        extra = archive._extra_files(zf, str(tmp_path), ntpath.normcase)
    assert [Path(p).name for p in extra] == ["stale.dll"]


@pytest.mark.skipif(os.name != "nt", reason="needs NTFS (Windows CPython: the Wine lane)")
def test_7_archive_clean_keeps_differently_cased_files_on_ntfs(tmp_path: Path) -> None:
    from transom.engine.provider import Context

    source = tmp_path / "site.zip"
    with zipfile.ZipFile(source, "w") as zf:
        zf.writestr("Bin/App.dll", b"MZ")
    target = tmp_path / "site"
    (target / "bin").mkdir(parents=True)
    (target / "bin" / "app.dll").write_bytes(b"MZ")
    props = ArchiveProperties.model_validate(
        {
            "path": str(target),
            "source": str(source),
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "clean": True,
        }
    )
    archive.ArchiveProvider(str(tmp_path / "cache")).set(props, {}, Context(secrets=None))  # type: ignore[arg-type]
    assert (target / "bin" / "app.dll").exists()


# --- 8. service recovery ----------------------------------------------------------------------


def test_8_removed_recovery_command_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    win = fake_pywin32.install(monkeypatch)
    win.services["svc"] = fake_pywin32.Service()
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    real.service_set_failure_actions("svc", f.FailureActions(86400, "C:\\alert.cmd", ((3, 0),)))
    assert real.service_query_failure_actions("svc").command == "C:\\alert.cmd"
    real.service_set_failure_actions("svc", f.FailureActions(86400, "", ((0, 0),)))
    assert real.service_query_failure_actions("svc").command == ""


def test_8_reboot_action_enables_the_shutdown_privilege(monkeypatch: pytest.MonkeyPatch) -> None:
    win = fake_pywin32.install(monkeypatch)
    win.services["svc"] = fake_pywin32.Service()
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    real.service_set_failure_actions("svc", f.FailureActions(0, "", ((1, 5000), (2, 60000))))
    assert "SeShutdownPrivilege" in win.privileges_enabled
    assert real.service_query_failure_actions("svc").actions == ((1, 5000), (2, 60000))


# --- 9. query rights for reads ----------------------------------------------------------------


def test_9_reading_a_protected_service_asks_for_query_rights_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    win = fake_pywin32.install(monkeypatch)
    # What e.g. WinDefend grants administrators: query, not change.
    win.services["windefend"] = fake_pywin32.Service(
        granted=fake_pywin32.SERVICE_QUERY_CONFIG | fake_pywin32.SERVICE_QUERY_STATUS
    )
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    config, state = real.service_query("WinDefend")
    assert (config.binary_path, state) == ("C:\\svc.exe", f.SERVICE_RUNNING)
    assert real.service_query_failure_actions("WinDefend").actions == ()
    with pytest.raises(f.WindowsApiError) as caught:
        real.service_set_failure_actions("WinDefend", f.FailureActions())
    assert caught.value.winerror == f.ERROR_ACCESS_DENIED


def test_9_the_service_probe_asks_for_the_run_state_only(monkeypatch: pytest.MonkeyPatch) -> None:
    win = fake_pywin32.install(monkeypatch)
    win.services["rpcss"] = fake_pywin32.Service(granted=fake_pywin32.SERVICE_QUERY_STATUS)
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    assert real.service_state("RpcSs") == f.SERVICE_RUNNING
    # Each error names the call that failed: opening for the configuration is refused here.
    with pytest.raises(f.WindowsApiError) as caught:
        real.service_query("RpcSs")
    assert (caught.value.winerror, caught.value.function) == (f.ERROR_ACCESS_DENIED, "OpenService")
    with pytest.raises(f.WindowsApiError) as caught:
        real.service_state("NoSuchService")
    assert (caught.value.winerror, caught.value.function) == (
        f.ERROR_SERVICE_DOES_NOT_EXIST,
        "OpenService",
    )


# --- 10. absolute System32 paths --------------------------------------------------------------


def test_10_system_programs_run_by_absolute_path(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Any] = []

    class Done:
        returncode, stderr = 0, ""

    def run(cmd: Any, *_: Any, **kw: Any) -> Done:
        ran.append(cmd)
        return Done()

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(win32, "run_tracked", run)  # msiexec: a tracked change process
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    real.msi_install("C:\\p.msi", [], "C:\\log")
    real.reboot("config")
    # GetSystemDirectoryW on Windows (C:\\windows\\system32 under Wine), else the default.
    system32 = system_dir() + "\\"
    assert ntpath.isabs(system32) and system32.casefold().endswith("\\system32\\")
    assert ran[0].startswith(f"{system32}msiexec.exe /i ")
    assert ran[1][0] == f"{system32}shutdown.exe"
    assert default_command()[0] == f"{system32}WindowsPowerShell\\v1.0\\powershell.exe"


# --- 11. directory watch buffer ---------------------------------------------------------------


def test_11_directory_watch_waits_for_the_cancelled_read(monkeypatch: pytest.MonkeyPatch) -> None:
    win = fake_pywin32.install(monkeypatch)
    sub = win32.Win32Facade(PowerShellHost(["unused"])).subscribe_directory("C:\\data")
    sub.close()
    assert win.closed_with_read_in_flight == 0


# --- 12. replacing a file another process holds open ------------------------------------------


def _in_use() -> PermissionError:
    exc = PermissionError(13, "The process cannot access the file")
    exc.winerror = 32  # type: ignore[attr-defined]
    return exc


def test_12_atomic_replace_retries_while_the_file_is_in_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_replace = Path.replace
    failures = iter([_in_use(), _in_use()])

    def replace(self: Path, target: Any) -> Path:
        exc = next(failures, None)
        if exc is not None:
            raise exc
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    monkeypatch.setattr(atomicfile, "RETRY_DELAYS", (0.0,) * 6)
    target = tmp_path / "journal.json"
    atomicfile.retry_in_use(lambda: None)  # no error: one call
    atomicfile.write_atomic(str(target), b"{}")
    assert target.read_bytes() == b"{}"


def test_12_retry_gives_up_and_ignores_other_errors() -> None:
    calls: list[int] = []

    def always_in_use() -> None:
        calls.append(1)
        raise _in_use()

    with pytest.raises(PermissionError):
        atomicfile.retry_in_use(always_in_use, delays=(0.0, 0.0), sleep=lambda s: None)
    assert len(calls) == 3
    calls.clear()

    def denied_on_posix() -> None:
        calls.append(1)
        raise PermissionError(13, "no winerror: not a sharing violation")

    with pytest.raises(PermissionError):
        atomicfile.retry_in_use(denied_on_posix, delays=(0.0, 0.0), sleep=lambda s: None)
    assert len(calls) == 1


def test_12_file_resource_waits_out_a_brief_hold(sim: SimulatedFacade) -> None:
    sim.dir_create("C:\\app")
    sim.file_write_atomic("C:\\app\\app.config", b"old")
    sim.hold_open("C:\\app\\app.config", attempts=2)
    converges(engine(sim), {"name": "c", "file": {"path": "C:\\app\\app.config", "content": "new"}})
    assert sim.file_read("C:\\app\\app.config") == b"new"


# --- 13. IIS without WebAdministration --------------------------------------------------------


def test_13_iis_without_web_administration_says_what_to_install() -> None:
    sim = SimulatedFacade()  # no Web-Scripting-Tools: no WebAdministration module
    report = apply(engine(sim), {"name": "p", "iisAppPool": {"name": "shop"}})
    outcome = report.results[0]
    assert outcome.failed and outcome.reason == "NotSupported"
    assert "Web-Scripting-Tools" in outcome.message


# --- 14. boot ID ------------------------------------------------------------------------------


def test_14_boot_id_is_the_boot_time_windows_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    win = fake_pywin32.install(monkeypatch)
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    first = real.boot_id()
    assert first == real.boot_id() == "20261201063012"
    win.boot_time = "20261202071500.125000+000"
    assert real.boot_id() != first


def test_reports_never_carry_a_traceback(sim: SimulatedFacade) -> None:
    report = apply(engine(SimulatedFacade()), {"name": "p", "iisSite": {"name": "s"}})
    assert "Traceback" not in json.dumps(report.to_json())


@pytest.mark.skipif(os.name != "nt", reason="needs WMI (Windows CPython: the Wine lane)")
def test_14_real_boot_id_is_stable_within_a_boot() -> None:
    real = win32.Win32Facade(PowerShellHost(["unused"]))
    first = real.boot_id()
    assert len(first) == 14 and first.isdigit() and real.boot_id() == first
