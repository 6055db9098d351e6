"""How the fleet benchmark spreads hosts over kube-apiservers: never more on one than its
open files hold, and no more apiservers than that needs."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest
from bench import run as bench_run
from bench.fleet_bench import (
    DEFAULT_SIZES,
    SOCKETS_BESIDES,
    SOCKETS_PER_HOST,
    RunGuard,
    SettingError,
    Settings,
    apiservers_for,
    process_sizes,
)
from hypothesis import given
from hypothesis import strategies as st

from transom.dev.processes import pid_alive


@given(st.integers(1, 40_000), st.integers(1, 2_000))
def test_process_sizes_cover_the_fleet(n: int, per_process: int) -> None:
    sizes = process_sizes(n, per_process)
    assert sum(sizes) == n and all(0 < s <= per_process for s in sizes)


@given(st.integers(1, 40_000), st.integers(50, 2_000), st.integers(2_000, 100_000))
def test_each_apiserver_holds_what_its_open_files_allow_and_no_fewer_would(
    n: int, per_process: int, open_files: int
) -> None:
    capacity = (open_files - SOCKETS_BESIDES) // SOCKETS_PER_HOST
    sizes = process_sizes(n, per_process)

    def most(k: int) -> int:  # hosts on the busiest apiserver, processes taken in turn
        return max(sum(sizes[j::k]) for j in range(k))

    if max(sizes) > capacity:
        with pytest.raises(SystemExit, match="TRANSOM_BENCH_AGENTS_PER_PROCESS"):
            apiservers_for(n, per_process, open_files)
        return
    k = apiservers_for(n, per_process, open_files)
    assert most(k) <= capacity
    assert k == 1 or most(k - 1) > capacity


def test_this_machines_limit_puts_ten_thousand_hosts_on_three() -> None:
    # 20,000 open files hold 3,800 hosts; 20 processes of 500 in turn put 3,500 on the first.
    assert apiservers_for(3_000, 500, 20_000) == 1
    assert apiservers_for(10_000, 500, 20_000) == 3


def test_the_guard_ends_the_run_with_the_figures_when_memory_runs_low() -> None:
    guard = RunGuard(10**9)  # more than any machine has: trips at its first look
    with pytest.raises(KeyboardInterrupt), guard:
        time.sleep(30)
    assert guard.tripped.startswith("stopped: ")
    assert "below the 1,000,000,000 MiB kept free (TRANSOM_BENCH_MIN_FREE_MIB)" in guard.tripped


def test_the_guard_ends_the_run_when_a_watched_process_ends_and_stops_the_others() -> None:
    # As when the OOM killer took the first of three kube-apiservers at 10,000 hosts.
    ended = subprocess.Popen(["sleep", "60"])
    other = subprocess.Popen(["sleep", "60"])
    guard = RunGuard(1)
    try:
        with (
            pytest.raises(KeyboardInterrupt),
            guard.watching({"kube-apiserver": ended.pid, "etcd": other.pid}),
        ):
            ended.kill()  # not reaped yet: a zombie has ended too
            time.sleep(30)
        assert f"kube-apiserver (pid {ended.pid}) ended during the run" in guard.tripped
        assert other.wait(10) == -signal.SIGTERM
    finally:
        for p in (ended, other):
            p.kill()
            p.wait()


def test_the_guard_stays_quiet_while_all_is_well() -> None:
    me = subprocess.Popen(["sleep", "60"])
    try:
        with RunGuard(1, interval=0.1).watching({"sleep": me.pid}) as guard:
            time.sleep(1)  # ten looks
        assert guard.tripped == ""
        assert pid_alive(me.pid)
    finally:
        me.kill()
        me.wait()
    assert not pid_alive(me.pid)


def test_make_bench_runs_the_fleet_at_the_goal_sizes_by_default() -> None:
    assert "bench.fleet_bench" in bench_run.MODULES
    assert Settings.from_env({}) == Settings() and Settings().sizes == DEFAULT_SIZES == (1000, 3000)


def test_sizes_come_from_arguments_before_the_environment() -> None:
    env = {"TRANSOM_BENCH_FLEET_SIZES": "100, 300", "TRANSOM_BENCH_UPDATES": "1"}
    assert Settings.from_env(env).sizes == (100, 300)
    assert Settings.from_env(env, ["7000"]).sizes == (7000,)
    assert Settings.from_env(env).updates == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TRANSOM_BENCH_FLEET_SIZES": "1000,lots"}, "TRANSOM_BENCH_FLEET_SIZES: 'lots'"),
        ({"TRANSOM_BENCH_FLEET_SIZES": "0"}, "TRANSOM_BENCH_FLEET_SIZES: '0'"),
        ({"TRANSOM_BENCH_UPDATES": "0"}, "TRANSOM_BENCH_UPDATES: '0'"),
        ({"TRANSOM_BENCH_IDLE": "-1"}, "TRANSOM_BENCH_IDLE: '-1'"),
        ({"TRANSOM_BENCH_IDLE": "nan"}, "TRANSOM_BENCH_IDLE: 'nan'"),
        ({"TRANSOM_BENCH_SHARDS": "two"}, "TRANSOM_BENCH_SHARDS: 'two'"),
        ({"TRANSOM_BENCH_MIN_FREE_MIB": "-5"}, "TRANSOM_BENCH_MIN_FREE_MIB: '-5'"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingError, match="^" + re.escape(named)):
        Settings.from_env(env)


def test_make_bench_refuses_a_bad_setting_before_running_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRANSOM_BENCH_UPDATES", "none")

    def ran(name: str) -> None:
        raise AssertionError(f"{name} ran before the setting was checked")

    monkeypatch.setattr("bench.run.importlib.import_module", ran)
    assert bench_run.main([]) == 2
    assert "TRANSOM_BENCH_UPDATES: 'none' is not a whole number" in capsys.readouterr().err


@given(st.one_of(st.integers(-5, 10**6).map(str), st.text(max_size=6)))
def test_a_count_setting_is_taken_exactly_when_it_is_a_whole_number_of_at_least_one(
    value: str,
) -> None:
    try:
        wanted: int | None = int(value)
    except ValueError:
        wanted = None
    env = {"TRANSOM_BENCH_UPDATES": value}
    if wanted is not None and wanted >= 1:
        assert Settings.from_env(env).updates == wanted
    else:
        with pytest.raises(SettingError, match=r"^TRANSOM_BENCH_UPDATES: "):
            Settings.from_env(env)
