"""`transom status [HOST]`: which commit is on which box; `--watch` redraws it in place,
`--wait` follows a rollout until every host is Ready or one failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from transom.cli.cluster import add_kubeconfig, kube_config
from transom.cli.errors import CliError, explain
from transom.cli.style import Style

if TYPE_CHECKING:
    from transom.controller.report import Row

#: Row states (transom.api.assignment.AssignmentState, spelled here so that registering the
#: command imports no model) and how a terminal shows them.
READY, FAILED, DRIFTED, WAITING, APPLYING = "Ready", "Failed", "Drifted", "Waiting", "Applying"
PROBING, ROLLING_BACK, ROLLED_BACK = "Probing", "RollingBack", "RolledBack"
COLOURS = {
    READY: "green",
    FAILED: "red",
    DRIFTED: "yellow",
    WAITING: "yellow",
    APPLYING: "blue",
    PROBING: "blue",
    ROLLING_BACK: "red",
    ROLLED_BACK: "red",
}
EXIT_READY, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 3
#: Terminal control: cursor home, clear to end of line, clear to end of screen.
HOME, CLEAR_LINE, CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("status", help="hosts x configurations: generation, revision, state")
    p.add_argument("host", nargs="?", help="show one host, with per-resource detail")
    p.add_argument(
        "--output", "-o", choices=("table", "json"), default="table", help="output format"
    )
    p.add_argument(
        "--watch",
        "-w",
        action="store_true",
        help="keep showing the table, redrawn in place on a terminal (Ctrl-C to stop)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="follow the rollout: exit 0 when every host is Ready, 1 when one failed, "
        f"{EXIT_TIMEOUT} on --timeout",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often --watch and --wait read the cluster",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long --wait waits",
    )
    add_kubeconfig(p)
    p.set_defaults(func=_status)


def painted(table: str, rows: Sequence[Row], style: Style) -> str:
    """The rendered table (a header, then one line per row) with each row coloured by its
    state, an offline host's in red."""
    lines = table.splitlines()
    if not style.colour or len(lines) != len(rows) + 1:
        return table
    out = [style.paint(lines[0], "bold")]
    for line, row in zip(lines[1:], rows, strict=True):
        colour = COLOURS.get(row.state) if row.online or row.state == "-" else "red"
        out.append(style.paint(line, colour) if colour else line)
    return "\n".join(out)


def summary(rows: Sequence[Row]) -> str:
    """One line: how many assignments are in each state, and hosts offline."""
    states = Counter(r.state for r in rows if r.state != "-")
    offline = len({r.host for r in rows if not r.online})
    parts = [f"{states[READY]}/{sum(states.values())} Ready"]
    parts += [f"{n} {s.lower()}" for s, n in sorted(states.items()) if s != READY]
    if offline:
        parts.append(f"{offline} host(s) offline")
    return ", ".join(parts)


def outcome(rows: Sequence[Row]) -> int | None:
    """--wait's exit status once the rollout is decided, None while it is not."""
    assigned = [r for r in rows if r.state != "-"]
    if any(r.state in (FAILED, ROLLING_BACK, ROLLED_BACK) for r in assigned):
        return EXIT_FAILED
    if assigned and all(r.state == READY for r in assigned):
        return EXIT_READY
    return None


class Screen:
    """Shows successive frames: on a terminal each replaces the last in place; piped, a frame
    is printed only when it differs from the one before (so a log stays readable)."""

    def __init__(self, out: TextIO, style: Style) -> None:
        self.out = out
        self.style = style
        self.last = ""

    def show(self, frame: str, stamp: str) -> None:
        if frame == self.last and not self.style.tty:
            return
        self.last = frame
        if self.style.tty:
            body = "".join(f"{line}{CLEAR_LINE}\n" for line in [stamp, "", *frame.splitlines()])
            self.out.write(f"{HOME}{body}{CLEAR_BELOW}")
        else:
            self.out.write(f"\n[{stamp}]\n{frame}\n")
        self.out.flush()


async def follow(
    fetch: Callable[[], Awaitable[list[Row]]],
    render: Callable[[list[Row]], str],
    out: TextIO,
    style: Style,
    *,
    interval: float,
    wait: bool,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Redraw the table every ``interval`` until stopped (or, with ``wait``, until the rollout
    is decided or ``timeout`` passes). A failed read after the first is shown and retried."""
    screen = Screen(out, style)
    started = clock()
    rows = await fetch()
    problem = ""
    while True:
        done = outcome(rows) if wait else None
        elapsed = clock() - started
        line = summary(rows) + (f"  ({elapsed:.0f} s)" if wait else "")
        frame = painted(render(rows), rows, style)
        if problem:
            frame += f"\n{style.paint(problem, 'red')}"
        screen.show(frame, f"{time.strftime('%H:%M:%S')}  {line}")
        if done is not None:
            return done
        if wait and elapsed >= timeout:
            out.write(f"not decided after {timeout:.0f} s: {summary(rows)}\n")
            return EXIT_TIMEOUT
        await asyncio.sleep(interval)
        try:
            rows, problem = await fetch(), ""
        except Exception as exc:
            known = explain(exc)
            if known is None:
                raise
            problem = f"{known.message} (retrying)"


def _status(args: argparse.Namespace) -> int:
    from transom.controller import report
    from transom.kube.client import Kube

    style = Style.for_stream(sys.stdout)
    if (args.watch or args.wait) and args.output == "json":
        raise CliError("--watch and --wait show a table: leave out --output json", code=2)

    async def main() -> int:
        cfg = kube_config(args.kubeconfig)
        async with Kube(cfg) as kube:
            if args.watch or args.wait:
                return await follow(
                    lambda: report.rows(kube, args.host),
                    report.render,
                    sys.stdout,
                    style,
                    interval=args.interval,
                    wait=args.wait,
                    timeout=args.timeout,
                )
            table = await report.rows(kube, args.host)
            details = await report.resources(kube, args.host) if args.host else []
            held = await report.held(kube) if not args.host else []
        if args.output == "json":
            body = {
                "hosts": [r.__dict__ for r in table],
                "resources": details,
                "held": [h.__dict__ for h in held],
            }
            print(json.dumps(body, indent=2))
            return 0
        print(painted(report.render(table), table, style))
        if held:
            print()
            print(style.paint(report.render_held(held), "yellow"))
        if details:
            print()
            for d in details:
                print(_detail(d, style))
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0 if args.watch and not args.wait else 130
    except LookupError as e:  # no such host
        raise CliError(str(e).strip("'\"")) from None


def _detail(d: dict[str, Any], style: Style) -> str:
    from transom.api.conditions import resource_failed

    if d.get("inDesiredState"):
        state = "ok"
    elif resource_failed(False, str(d.get("reason") or "")):
        state = "FAILED"
    else:  # waiting for a reboot or a dependency, or drift only reported: not a failure
        state = str(d.get("reason") or "waiting")
    colour = {"ok": "green", "FAILED": "red"}.get(state, "yellow")
    drift = " (drifted)" if d.get("drifted") else ""
    msg = f"  {d.get('message')}" if d.get("message") else ""
    shown = style.paint(state, colour) if colour else state
    return f"  {d['assignment']}  {d['name']} [{d['type']}]  {shown}{drift}{msg}"
