"""WindowsFeature and MsiPackage: installs, reboots, msiexec exit codes, logs on failure."""

from __future__ import annotations

from typing import Any

from transom.providers.windows.simulated import SimPackage, SimulatedFacade

from .conftest import apply, converges, engine

PRODUCT = "{6F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9}"


def msi(**props: Any) -> dict[str, Any]:
    return {"name": "app", "msiPackage": {"productCode": PRODUCT, **props}}


def feature(name: str = "Web-Server", **props: Any) -> dict[str, Any]:
    return {"name": "feature", "windowsFeature": {"name": name, **props}}


def test_feature_install_reports_reboot(sim: SimulatedFacade) -> None:
    sim.add_feature("Web-Server", sub_features=["Web-Asp-Net45", "Web-Mgmt-Console"], restart=True)
    report = converges(engine(sim), feature(includeSubFeatures=True))
    assert report.reboot_required
    assert report.results[0].reboot_required
    assert sim.reboot_pending
    for name in ("web-asp-net45", "Web-Mgmt-Console"):
        info = sim.feature_get(name)
        assert info is not None and info["installed"]


def test_missing_sub_feature_is_drift(sim: SimulatedFacade) -> None:
    sim.add_feature("Web-Server", installed=True, sub_features=["Web-Asp-Net45"])
    report = converges(engine(sim), feature(includeSubFeatures=True))
    assert [d.prop for d in report.results[0].diff] == ["includeSubFeatures"]
    assert not report.reboot_required


def test_feature_uninstall_and_unknown_feature(sim: SimulatedFacade) -> None:
    sim.add_feature("Telnet-Client", installed=True)
    converges(engine(sim), feature("Telnet-Client", ensure="absent"))
    report = apply(engine(sim), feature("No-Such-Feature"))
    assert report.failed and report.results[0].reason == "NotFound"


def test_msi_install_then_no_op(sim: SimulatedFacade) -> None:
    sim.dir_create("\\\\files\\pkgs")
    sim.packages["\\\\files\\pkgs\\app.msi"] = SimPackage(PRODUCT)
    report = converges(
        engine(sim), msi(path="\\\\files\\pkgs\\app.msi", arguments=["INSTALLDIR=C:\\App"])
    )
    assert report.changed and not report.reboot_required
    assert PRODUCT in sim.products


def test_msi_3010_means_reboot_required(sim: SimulatedFacade) -> None:
    sim.packages["c:\\app.msi"] = SimPackage(PRODUCT, exit_code=3010)
    report = converges(engine(sim), msi(path="C:\\app.msi"))
    assert report.reboot_required


def test_msi_1603_fails_with_the_log_tail(sim: SimulatedFacade) -> None:
    sim.packages["c:\\app.msi"] = SimPackage(PRODUCT, exit_code=1603)
    report = apply(engine(sim), msi(path="C:\\app.msi"))
    outcome = report.results[0]
    assert outcome.reason == "InstallFailed"
    assert "1603" in outcome.message
    assert "Return value 3" in outcome.message
    assert PRODUCT not in sim.products


def test_msi_1618_is_install_in_progress(sim: SimulatedFacade) -> None:
    sim.packages["c:\\app.msi"] = SimPackage(PRODUCT)
    sim.msi_busy = True
    report = apply(engine(sim), msi(path="C:\\app.msi"))
    assert report.results[0].reason == "InstallInProgress"
    sim.msi_busy = False
    converges(engine(sim), msi(path="C:\\app.msi"))


def test_msi_uninstall(sim: SimulatedFacade) -> None:
    sim.products.add(PRODUCT)
    converges(engine(sim), msi(ensure="absent"))
    assert PRODUCT not in sim.products


def test_host_policy_sees_the_package_and_log_paths(sim: SimulatedFacade) -> None:
    from transom.engine.converge import Engine
    from transom.engine.policy import HostPolicy
    from transom.providers.windows import providers

    sim.packages["d:\\pkgs\\app.msi"] = SimPackage(PRODUCT)
    eng = Engine(providers(sim), policy=HostPolicy(path_roots=("C:\\Packages",)))
    report = apply(eng, msi(path="D:\\pkgs\\app.msi"))
    assert report.results[0].reason == "DeniedByHostPolicy"
    assert PRODUCT not in sim.products
