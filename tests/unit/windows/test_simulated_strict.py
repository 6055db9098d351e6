"""The simulated facade is as strict as Windows where a kinder one hid defects: canonical
account names with SIDs, running dependents (1051), paused services, sharing violations,
read-only files, MAX_PATH, case-insensitive paths and keys, no keys directly under a hive,
script exit codes as GetExitCodeProcess reports them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transom.providers.windows import facade as f
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import apply, converges, engine, fresh_sim

SVC = f.ServiceConfig(binary_path="C:\\svc.exe", start_type=f.SERVICE_DEMAND_START)


def _code(call: object) -> int:
    assert callable(call)
    with pytest.raises(f.WindowsApiError) as caught:
        call()
    return caught.value.winerror


def test_accounts_read_back_canonical_with_sids(sim: SimulatedFacade) -> None:
    sim.dir_create("C:\\d")
    sim.acl_add("C:\\d", [f.Ace("administrators", "Read"), f.Ace("S-1-5-18", "Read")])
    aces = sim.acl_get("C:\\d")
    assert [(a.identity, a.sid) for a in aces] == [
        ("BUILTIN\\Administrators", f.SID_ADMINISTRATORS),
        ("NT AUTHORITY\\SYSTEM", f.SID_SYSTEM),
    ]
    # LookupAccountName does not take .\name itself; the facade adds this computer's name.
    sim.add_account("WIN-SIM\\deploy")
    assert sim.account_sid(".\\deploy") == sim.account_sid("WIN-SIM\\DEPLOY")
    assert _code(lambda: sim.account_sid("nobody")) == f.ERROR_NONE_MAPPED


def test_stopping_a_service_with_running_dependents_fails_1051(sim: SimulatedFacade) -> None:
    sim.add_service("W3SVC", SVC, running=True, depends_on=("WAS",))
    sim.add_service("WAS", SVC, running=True)
    assert _code(lambda: sim.service_stop("was")) == f.ERROR_DEPENDENT_SERVICES_RUNNING
    report = apply(engine(sim), {"name": "s", "service": {"name": "WAS", "state": "Stopped"}})
    assert report.failed and "depend on it" in report.results[0].message


def test_a_paused_service_is_continued_not_started(sim: SimulatedFacade) -> None:
    sim.add_service("Spooler", SVC, running=True)
    sim.pause_service("Spooler")
    assert _code(lambda: sim.service_start("Spooler")) == f.ERROR_SERVICE_ALREADY_RUNNING
    item = {"name": "s", "service": {"name": "Spooler", "state": "Running"}}
    report = converges(engine(sim), item)
    assert [d.actual for d in report.results[0].diff] == ["Paused"]
    assert sim.service_query("Spooler")[1] == f.SERVICE_RUNNING


def test_a_file_held_open_or_read_only_refuses_replacement(sim: SimulatedFacade) -> None:
    sim.dir_create("C:\\app")
    sim.file_write_atomic("C:\\app\\a.txt", b"1")
    sim.hold_open("C:\\app\\a.txt")
    assert _code(lambda: sim.file_write_atomic("C:\\app\\a.txt", b"2")) == (
        f.ERROR_SHARING_VIOLATION
    )
    item = {"name": "a", "file": {"path": "C:\\app\\a.txt", "content": "2"}}
    report = apply(engine(sim), item)
    assert report.failed and "keeps the file open" in report.results[0].message
    sim.held_open.clear()
    sim.set_readonly("C:\\app\\a.txt")
    assert _code(lambda: sim.file_write_atomic("C:\\app\\a.txt", b"2")) == f.ERROR_ACCESS_DENIED
    assert _code(lambda: sim.file_delete("C:\\app\\a.txt")) == f.ERROR_ACCESS_DENIED
    assert apply(engine(sim), item).results[0].reason == "AccessDenied"


def test_max_path_without_the_long_path_opt_in(sim: SimulatedFacade) -> None:
    deep = "C:\\" + "\\".join(["d" * 50] * 5) + "\\file.txt"
    assert len(deep) >= 260
    assert _code(lambda: sim.dir_create(deep)) == f.ERROR_FILENAME_EXCED_RANGE
    report = apply(engine(sim), {"name": "d", "directory": {"path": deep}})
    assert report.failed and "LongPathsEnabled" in report.results[0].message
    sim.long_paths = True
    sim.dir_create(deep)


@given(st.text(alphabet="abcXYZ", min_size=1, max_size=8))
def test_paths_and_keys_are_case_insensitive(name: str) -> None:
    sim = fresh_sim()
    sim.dir_create(f"C:\\{name}")
    assert sim.path_kind(f"c:\\{name.swapcase()}") == "directory"
    sim.reg_create_key("HKLM", f"SOFTWARE\\{name}", 64)
    assert sim.reg_key_exists("HKLM", f"software\\{name.swapcase()}", 64)


def test_no_new_keys_directly_under_hklm_or_hku(sim: SimulatedFacade) -> None:
    assert _code(lambda: sim.reg_create_key("HKLM", "Transom", 64)) == f.ERROR_ACCESS_DENIED
    assert _code(lambda: sim.reg_create_key("HKU", "Transom\\x", 64)) == f.ERROR_ACCESS_DENIED
    sim.reg_create_key("HKCR", ".transom", 64)


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_script_exit_codes_are_unsigned_dwords(code: int) -> None:
    sim = fresh_sim()
    sim.scripts["exit"] = lambda ctx: {"exitCode": code, "output": ""}
    done = sim.run_command("exit", working_directory=None, environment={}, timeout=5)
    assert done["exitCode"] == code & 0xFFFF_FFFF and 0 <= done["exitCode"] <= 0xFFFF_FFFF
