"""The Windows notifier over the simulated facade's change notifications."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from transom.engine.provider import WatchTarget
from transom.providers.windows import facade as f
from transom.providers.windows.notify import WindowsNotifier, parse_registry_path
from transom.providers.windows.simulated import SimulatedFacade


@pytest.fixture
def notifier(sim: SimulatedFacade) -> Iterator[WindowsNotifier]:
    n = WindowsNotifier(sim)
    yield n
    n.close()


def test_file_changes_are_reported_per_file(
    sim: SimulatedFacade, notifier: WindowsNotifier
) -> None:
    sim.dir_create("C:\\inetpub\\web")
    config = WatchTarget("file", "C:\\inetpub\\web\\Web.config")
    other = WatchTarget("file", "C:\\inetpub\\web\\other.txt")
    notifier.watch([config, other])
    sim.file_write_atomic("C:\\inetpub\\web\\web.config", b"x")
    assert notifier.wait(2) == {config}
    assert notifier.wait(0.05) == set()


def test_registry_service_and_tree(sim: SimulatedFacade, notifier: WindowsNotifier) -> None:
    sim.reg_create_key("HKLM", "SOFTWARE\\Contoso", 32)
    sim.add_service("W3SVC", f.ServiceConfig("svchost.exe", f.SERVICE_AUTO_START))
    sim.dir_create("C:\\app\\bin")
    reg = WatchTarget("registry", "HKLM\\SOFTWARE\\Contoso@32")
    svc = WatchTarget("service", "w3svc")
    tree = WatchTarget("tree", "C:\\app")
    notifier.watch([reg, svc, tree])
    sim.reg_set_value("HKLM", "SOFTWARE\\Contoso", "x", 32, value_type=f.REG_DWORD, data=1)
    assert notifier.wait(2) == {reg}
    sim.service_start("W3SVC")
    assert notifier.wait(2) == {svc}
    sim.file_write_atomic("C:\\app\\bin\\x.dll", b"x")
    assert notifier.wait(2) == {tree}


def test_unwatchable_targets_are_left_to_the_periodic_check(sim: SimulatedFacade) -> None:
    class Refusing(SimulatedFacade):
        def subscribe_registry(self, hive: f.Hive, key: str, view: f.View) -> f.Subscription:
            raise f.WindowsApiError(f.ERROR_FILE_NOT_FOUND, "RegOpenKeyEx")

    n = WindowsNotifier(Refusing())
    n.watch([WatchTarget("registry", "HKLM\\SOFTWARE\\Missing")])
    assert n.wait(0.05) == set()
    n.close()


def test_rewatch_drops_old_targets(sim: SimulatedFacade, notifier: WindowsNotifier) -> None:
    sim.dir_create("C:\\a")
    target = WatchTarget("file", "C:\\a\\x")
    notifier.watch([target])
    notifier.watch([])
    sim.file_write_atomic("C:\\a\\x", b"1")
    assert notifier.wait(0.3) == set()


def test_parse_registry_path() -> None:
    assert parse_registry_path("HKLM\\SOFTWARE\\X@32") == ("HKLM", "SOFTWARE\\X", 32)
    assert parse_registry_path("hklm\\SYSTEM\\a@b") == ("HKLM", "SYSTEM\\a@b", 64)


def test_implements_the_engine_protocols(sim: SimulatedFacade) -> None:
    from transom.engine.drift import Notifier
    from transom.engine.reboot import Rebooter
    from transom.providers.windows.reboot import WindowsRebooter

    notifier: Notifier = WindowsNotifier(sim)  # checked by mypy, not at run time
    rebooter: Rebooter = WindowsRebooter(sim)
    notifier.close()
    assert rebooter.boot_id() == "1"
