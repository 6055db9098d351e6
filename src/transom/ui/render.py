"""Server-rendered HTML of the fleet view: the one place a row, a cell or a page is drawn
(the page's script only swaps the fragments the server sends)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import quote

from transom import __version__
from transom.ui.audit import ALARMS, AuditState, Verification
from transom.ui.drift import DriftEvent
from transom.ui.fleet import Cell, ConfigurationInfo, FleetView
from transom.ui.progress import partitions
from transom.ui.states import CellState

ASSETS = "/static"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def host_url(host: str) -> str:
    return f"/hosts/{quote(host, safe='')}"


def configuration_url(key: str) -> str:
    namespace, _, name = key.partition("/")
    return f"/configurations/{quote(namespace, safe='')}/{quote(name, safe='')}"


def row_id(host: str) -> str:
    return f"host-{host}"


def page(title: str, body: str, *, kind: str, subject: str = "") -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · Transom</title>"
        f'<link rel="stylesheet" href="{ASSETS}/app.css">'
        f'<script src="{ASSETS}/app.js" defer></script></head>'
        f'<body data-page="{_e(kind)}" data-subject="{_e(subject)}">'
        '<header><a class="brand" href="/">Transom fleet</a>'
        '<span id="live" class="live off" title="live updates">connecting</span>'
        f'<span class="version">transom {_e(__version__)} · read-only</span></header>'
        f'<main id="main">{body}</main></body></html>\n'
    )


# -- the grid --------------------------------------------------------------------------------


def counts(fleet: FleetView) -> str:
    n = fleet.counts()
    hosts = fleet.host_names()
    offline = fleet.offline_count()
    items = "".join(
        f'<li class="count s-{s.value}" data-state="{s.value}">'
        f'<b class="n">{n[s]}</b> {s.value}</li>'
        for s in CellState
    )
    return (
        f'<ul id="counts" class="counts">{items}'
        f'<li class="count hosts"><b class="n" id="host-count">{len(hosts)}</b> hosts'
        f' (<b id="offline-count">{offline}</b> offline)</li></ul>'
    )


def cell(c: Cell) -> str:
    title = f"{c.configuration}: {c.state.value} — generation {c.generation}"
    if c.revision:
        title += f", {c.revision}"
    if c.message:
        title += f"\n{c.message}"
    return (
        f'<td class="cell s-{c.state.value}" data-state="{c.state.value}" title="{_e(title)}">'
        f'<a href="{host_url(c.host)}#a-{_e(c.name)}">'
        f'<span class="gen">g{c.generation}</span> '
        f'<span class="rev">{_e(c.short_revision or "-")}</span></a></td>'
    )


def row(fleet: FleetView, host: str, columns: list[str]) -> str:
    info = fleet.host(host)
    if info is None:
        return ""
    by_config = {c.configuration: c for c in fleet.cells(host)}
    labels = " ".join(f"{k}={v}" for k, v in sorted(info.labels.items()))
    states = " ".join(sorted({c.state.value for c in by_config.values()}))
    tds = "".join(
        cell(by_config[k]) if k in by_config else '<td class="cell none"></td>' for k in columns
    )
    online = "online" if info.online else "offline"
    return (
        f'<tr id="{_e(row_id(host))}" data-host="{_e(host)}" data-labels="{_e(labels)}" '
        f'data-states="{_e(states)}" class="{online}">'
        f'<th scope="row"><a href="{host_url(host)}">{_e(host)}</a>'
        f'<span class="host-state {online}">{online}</span></th>{tds}</tr>'
    )


def _column(fleet: FleetView, key: str) -> str:
    info = fleet.configuration(key)
    state = f' data-state="{info.state.value}"' if info is not None else ""
    mark = (
        f' <span class="dot s-{info.state.value}" title="{info.state.value}"></span>'
        if info
        else ""
    )
    return f'<th scope="col"{state}><a href="{configuration_url(key)}">{_e(key)}</a>{mark}</th>'


def refusal(status: int, message: str) -> str:
    """A 401, 403 or 503 page: what is refused, and how to get in (docs/ui.md)."""
    title = {401: "Sign in", 403: "Not allowed", 503: "Unavailable"}.get(status, "Refused")
    body = (
        f'<h2 id="refused" data-status="{status}">{_e(title)}</h2>'
        f'<p class="message">{_e(message)}</p>'
        '<p class="empty">The view shows what your Kubernetes identity may get; see docs/ui.md '
        "for the token to use.</p>"
    )
    return page(title, body, kind="refused")


def grid(fleet: FleetView) -> str:
    """The counts, the filters and the table: the part a structural change redraws whole."""
    columns = fleet.configuration_keys()
    head = "".join(_column(fleet, k) for k in columns)
    rows = "".join(row(fleet, h, columns) for h in fleet.host_names())
    options = "".join(f'<option value="{s.value}">{s.value}</option>' for s in CellState)
    return (
        f'<div id="grid-wrap">{counts(fleet)}'
        '<form id="filters" class="filters" role="search">'
        '<label>Search <input id="search" type="search" placeholder="host name or label value"'
        ' autocomplete="off"></label>'
        '<label>Labels <input id="labels" type="text" placeholder="role=web,site=ams"'
        ' autocomplete="off"></label>'
        f'<label>State <select id="state"><option value="">any</option>{options}</select></label>'
        '<span id="shown" class="shown"></span></form>'
        f'<table id="grid" class="grid" data-columns="{len(columns)}">'
        f'<thead><tr><th scope="col">Host</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        + ("" if columns or fleet.host_names() else '<p class="empty">No hosts yet.</p>')
        + "</div>"
    )


def grid_page(fleet: FleetView) -> str:
    return page("Fleet", grid(fleet), kind="grid")


# -- a host ----------------------------------------------------------------------------------


def _dl(items: Iterable[tuple[str, object]]) -> str:
    return (
        '<dl class="facts">'
        + "".join(
            f"<dt>{_e(k)}</dt><dd>{_e(v if v not in ('', None) else '-')}</dd>" for k, v in items
        )
        + "</dl>"
    )


def _badge(state: CellState) -> str:
    return f'<span class="badge s-{state.value}">{state.value}</span>'


def _result_state(failed: bool, skipped: bool, in_desired: bool, drifted: bool) -> str:
    if failed:
        return "failed"
    if skipped:
        return "skipped"
    if drifted and not in_desired:
        return "drifted"
    return "ok" if in_desired else "waiting"


def _assignment(c: Cell) -> str:
    rows = "".join(
        f'<tr class="r-{_result_state(r.failed, r.skipped, r.in_desired_state, r.drifted)}">'
        f"<td>{_e(r.name)}</td><td>{_e(r.type)}</td>"
        f'<td class="rstate">{_result_state(r.failed, r.skipped, r.in_desired_state, r.drifted)}'
        f"</td><td>{'yes' if r.changed else ''}</td><td>{_e(r.reason)}</td>"
        f'<td class="message">{_e(r.message)}</td><td>{r.duration_ms} ms</td></tr>'
        for r in c.results
    )
    table = (
        '<table class="results"><thead><tr><th>Resource</th><th>Type</th><th>Result</th>'
        "<th>Changed</th><th>Reason</th><th>Message</th><th>Took</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if c.results
        else '<p class="empty">No results reported yet.</p>'
    )
    return (
        f'<section class="assignment" id="a-{_e(c.name)}" data-state="{c.state.value}">'
        f'<h3><a href="{configuration_url(c.configuration)}">{_e(c.configuration)}</a> '
        f"{_badge(c.state)}</h3>"
        + _dl(
            [
                ("Generation", c.generation),
                ("Revision", c.revision),
                ("Verdict", f"{c.verdict.state.value} ({c.verdict.reason})"),
                ("Message", c.message),
            ]
        )
        + table
        + "</section>"
    )


def _table(cls: str, head: tuple[str, ...], rows: Iterable[str], empty: str) -> str:
    body = "".join(rows)
    if not body:
        return f'<p class="empty">{_e(empty)}</p>'
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _drift(cells: list[Cell], drift: list[DriftEvent] | str) -> str:
    now = "".join(
        f'<tr class="r-drifted"><td><a href="{configuration_url(c.configuration)}">'
        f"{_e(c.configuration)}</a></td><td>{_e(r.name)}</td><td>{_e(r.type)}</td>"
        f'<td class="message">{_e(r.message)}</td></tr>'
        for c in cells
        for r in c.results
        if r.drifted and not r.in_desired_state
    )
    if isinstance(drift, str):
        events = f'<p class="empty" id="drift-events-unavailable">{_e(drift)}</p>'
    else:
        events = _table(
            "drift-events",
            ("When", "Reason", "Assignment", "What"),
            (
                f'<tr class="e-{_e(d.reason)}"><td>{_e(d.time)}</td><td>{_e(d.reason)}</td>'
                f'<td>{_e(d.assignment)}</td><td class="message">{_e(d.note)}'
                + (f" (x{d.count})" if d.count > 1 else "")
                + "</td></tr>"
                for d in drift
            ),
            "No drift events.",
        )
    return (
        '<section id="drift"><h3>Drifted now</h3>'
        + _table(
            "drifted-now",
            ("Configuration", "Resource", "Type", "Message"),
            [now],
            "No resource is out of its desired state.",
        )
        + "<h3>Recent drift</h3>"
        + events
        + "</section>"
    )


def _audit(v: Verification) -> str:
    alarm = " alarm" if v.state in ALARMS else ""
    history = _table(
        "checkpoints",
        ("Record", "Head hash", "Signed at", "Key", "Signature"),
        (
            f"<tr><td>{h.sequence}</td><td><code>{_e(h.head_hash[:16])}</code></td>"
            f"<td>{_e(h.time)}</td><td>{_e(h.key or '-')}</td><td>"
            + {True: "valid", False: "INVALID", None: "no key"}[h.signature_valid]
            + "</td></tr>"
            for h in reversed(v.history)
        ),
        "No checkpoint seen yet.",
    )
    hint = (
        '<p class="hint">The records themselves stay on the host: '
        "<code>transom audit verify --log DIR --host NAME</code> walks the whole chain "
        "against this checkpoint.</p>"
        if v.state is not AuditState.NONE
        else ""
    )
    return (
        f'<section id="audit" data-audit="{v.state.value}"><h3>Audit trail</h3>'
        f'<p class="audit-state{alarm}"><span class="badge a-{v.state.value}">'
        f'{_e(v.state.value)}</span> <span id="audit-message">{_e(v.message)}</span></p>'
        + history
        + hint
        + "</section>"
    )


def host_detail(
    fleet: FleetView,
    name: str,
    *,
    drift: list[DriftEvent] | str = "",
    audit: Verification | None = None,
) -> str:
    info = fleet.host(name)
    if info is None:
        return f'<h2>{_e(name)}</h2><p class="empty">No such Host (or not visible to you).</p>'
    s = info.status
    online = "online" if info.online else "offline"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(info.labels.items()))
    cells = fleet.cells(name)
    return (
        f'<h2 id="host-name">{_e(name)} <span class="host-state {online}" id="host-online">'
        f"{online}</span></h2>"
        + _dl(
            [
                ("OS", f"{s.os_name} {s.os_build}".strip()),
                ("Agent version", s.agent_version),
                ("Identity", s.identity),
                ("Namespace", s.namespace),
                ("Last heartbeat", s.last_heartbeat_time),
                ("Heartbeat", "current" if info.online else info.offline_reason),
                ("Labels", labels),
            ]
        )
        + _drift(cells, drift or [])
        + (_audit(audit) if audit is not None else "")
        + f"<h2>Assignments ({len(cells)})</h2>"
        + ("".join(_assignment(c) for c in cells) or '<p class="empty">None.</p>')
    )


# -- a Configuration -------------------------------------------------------------------------


def _progress(fleet: FleetView, info: ConfigurationInfo, cells: list[Cell]) -> str:
    labels = {c.host: (h.labels if (h := fleet.host(c.host)) else {}) for c in cells}
    rows = []
    for p in partitions(info, cells, labels):
        total = len(p.hosts)
        counts = ", ".join(f"{n} {s.value}" for s, n in sorted(p.counts.items()))
        rows.append(
            f'<tr class="partition" data-partition="{_e(p.name)}" data-phase="{_e(p.phase)}">'
            f"<td>{_e(p.name)}</td><td>{_e(p.phase)}</td><td>{_e(p.gate or '-')}</td>"
            f'<td><meter min="0" max="{max(total, 1)}" value="{p.ready}"></meter> '
            f'<span class="ready-of">{p.ready}/{total}</span></td>'
            f"<td>{p.updated}</td><td>{p.failed}</td><td>{_e(counts)}</td></tr>"
        )
    return _table(
        "partitions",
        ("Partition", "Phase", "Gate", "Ready", "Updated", "Failed", "Hosts by state"),
        rows,
        "No host is selected.",
    )


def _trace(info: ConfigurationInfo, trace: list[tuple[str, str]] | str, cells: list[Cell]) -> str:
    if isinstance(trace, str):
        flux = f'<p class="empty" id="trace-unavailable">{_e(trace)}</p>'
    else:
        flux = (
            '<dl class="facts trace">'
            + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in trace)
            + "</dl>"
        )
    by_revision: dict[tuple[int, str], list[Cell]] = {}
    for c in cells:
        by_revision.setdefault((c.generation, c.short_revision), []).append(c)
    hosts = "".join(
        f'<tr data-generation="{gen}"><td>g{gen}</td><td><code>{_e(rev or "-")}</code></td>'
        f"<td>{len(group)}</td><td>"
        + ", ".join(
            f'<a href="{host_url(c.host)}" class="s-{c.state.value}">{_e(c.host)}</a>'
            for c in group[:20]
        )
        + (f" and {len(group) - 20} more" if len(group) > 20 else "")
        + "</td></tr>"
        for (gen, rev), group in sorted(by_revision.items(), reverse=True)
    )
    return (
        '<section id="trace"><h3>From commit to host</h3>'
        + flux
        + f"<p>Configuration {_e(info.key)} generation {info.generation}, then on the hosts:</p>"
        + _table("revisions", ("Generation", "Revision", "Hosts", "Which"), [hosts], "No hosts.")
        + "</section>"
    )


def configuration_detail(
    fleet: FleetView, key: str, *, trace: list[tuple[str, str]] | str = ""
) -> str:
    info: ConfigurationInfo | None = fleet.configuration(key)
    if info is None:
        return f'<h2>{_e(key)}</h2><p class="empty">No such Configuration (or not visible).</p>'
    s = info.status
    cells = fleet.cells_of(key)
    desired = s.desired or len(cells)
    ready_cond = next((c for c in s.conditions if c.type == "Ready"), None)
    waiting = (
        f'<p class="waiting" id="waiting">{_badge(CellState.WAITING)} '
        f"{_e(ready_cond.reason if ready_cond else '')}: "
        f"{_e(ready_cond.message if ready_cond else '')}</p>"
        if info.state is CellState.WAITING
        else ""
    )
    failing = (
        f'<tr><td><a href="{host_url(f.host)}">{_e(f.host)}</a></td><td>{_e(f.resource)}</td>'
        f'<td>{_e(f.reason)}</td><td class="message">{_e(f.message)}</td></tr>'
        for f in s.failing_hosts
    )
    hosts = "".join(
        f'<tr data-state="{c.state.value}"><td><a href="{host_url(c.host)}">{_e(c.host)}</a></td>'
        f"<td>{_badge(c.state)}</td><td>g{c.generation}</td><td>{_e(c.short_revision)}</td>"
        f'<td class="message">{_e(c.message)}</td></tr>'
        for c in cells
    )
    return (
        f'<h2 id="configuration-name" data-state="{info.state.value}">{_e(key)} '
        f"{_badge(info.state)}</h2>"
        + waiting
        + _dl(
            [
                ("Generation", info.generation),
                ("Observed", s.observed_generation if s.observed_generation >= 0 else "-"),
                ("Revision", s.revision),
                ("Status", ready_cond.message if ready_cond is not None else ""),
            ]
        )
        + "<h3>Rollout</h3>"
        + f'<p class="progress"><meter id="rollout" min="0" max="{max(desired, 1)}" '
        f'value="{s.ready}"></meter> {s.ready}/{desired} ready at generation '
        f"{info.generation}</p>"
        + _dl(
            [
                ("Selected", s.desired),
                ("Updated", s.updated),
                ("Ready", s.ready),
                ("Failed", s.failed),
                ("Drifted", s.drifted),
                ("Unavailable", s.unavailable),
            ]
        )
        + "<h3>By partition</h3>"
        + _progress(fleet, info, cells)
        + "<h3>Failing hosts</h3>"
        + _table("failing", ("Host", "Resource", "Reason", "Message"), failing, "None.")
        + _trace(info, trace, cells)
        + "<h3>Hosts</h3>"
        + '<table class="hosts"><thead><tr><th>Host</th><th>State</th><th>Gen</th>'
        f"<th>Revision</th><th>Message</th></tr></thead><tbody>{hosts}</tbody></table>"
    )
