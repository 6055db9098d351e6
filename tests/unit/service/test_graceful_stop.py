"""The engine side of a graceful stop: the resource in progress finishes, nothing starts after,
and later runs do nothing; the stop request reaches the agent's loop from the service
manager's thread whenever it comes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as hs

from tests.unit.engine.helpers import doc, file, posix_engine
from transom.agent.servicehost import Stopper
from transom.engine.provider import Change, Context, SetOutcome
from transom.engine.result import RunReport, Status


def chain(tmp_path: Path, n: int) -> list[dict[str, object]]:
    items = [file("r0", tmp_path / "r0")]
    for i in range(1, n):
        items.append(file(f"r{i}", tmp_path / f"r{i}", dependsOn=[f"r{i - 1}"]))
    return items


def test_halt_mid_run_finishes_the_current_resource_and_starts_no_other(tmp_path: Path) -> None:
    engine = posix_engine()
    resources = doc(*chain(tmp_path, 5))
    entered, release = threading.Event(), threading.Event()
    provider = engine.providers["File"]
    original = provider.set

    def slow_set(desired: Any, changes: Mapping[str, Change], ctx: Context) -> SetOutcome:
        entered.set()
        assert release.wait(10)
        return original(desired, changes, ctx)

    provider.set = slow_set  # type: ignore[method-assign]
    result: list[RunReport] = []
    runner = threading.Thread(target=lambda: result.append(engine.apply(resources)))
    runner.start()
    assert entered.wait(10)
    engine.halt()
    assert not engine.wait_idle(0.2)  # r0 is still being changed
    release.set()
    assert engine.wait_idle(10)
    runner.join(10)
    (report,) = result
    assert [(o.name, o.status) for o in report.results] == [("r0", Status.CHANGED)]
    assert (tmp_path / "r0").exists()
    assert not any((tmp_path / f"r{i}").exists() for i in range(1, 5))
    # Nothing starts after a halt, drift checks included.
    assert engine.apply(resources).results == ()
    assert not (tmp_path / "r1").exists()


def test_idle_engine_is_idle() -> None:
    assert posix_engine().wait_idle(0)


@settings(max_examples=30, deadline=None)
@given(before_bind=hs.booleans(), delay=hs.floats(min_value=0, max_value=0.01))
def test_stop_request_reaches_the_loop_whenever_it_comes(before_bind: bool, delay: float) -> None:
    stopper = Stopper()

    async def main() -> None:
        if before_bind:
            stopper.request()
        event = stopper.bind()
        if not before_bind:
            threading.Timer(delay, stopper.request).start()
        await asyncio.wait_for(event.wait(), 5)

    asyncio.run(main())
