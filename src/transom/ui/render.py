"""Server-rendered HTML of the fleet view: the one place a row, a cell or a page is drawn
(the page's script only swaps the fragments the server sends)."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import quote

from transom import __version__
from transom.ui.fleet import Cell, CellState, ConfigurationInfo, Fleet

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


def counts(fleet: Fleet) -> str:
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


def row(fleet: Fleet, host: str, columns: list[str]) -> str:
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


def grid(fleet: Fleet) -> str:
    """The counts, the filters and the table: the part a structural change redraws whole."""
    columns = fleet.configuration_keys()
    head = "".join(
        f'<th scope="col"><a href="{configuration_url(k)}">{_e(k)}</a></th>' for k in columns
    )
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


def grid_page(fleet: Fleet) -> str:
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


def host_detail(fleet: Fleet, name: str) -> str:
    info = fleet.host(name)
    if info is None:
        return f'<h2>{_e(name)}</h2><p class="empty">No such Host (or not visible to you).</p>'
    s = info.status
    online = "online" if info.online else "offline"
    cp = s.audit_checkpoint
    audit = (
        _dl(
            [
                ("Sequence", cp.sequence),
                ("Head hash", cp.head_hash),
                ("Signed at", cp.time),
                ("Signature", "present" if cp.signature else "missing"),
            ]
        )
        if cp is not None
        else '<p class="empty">No audit checkpoint published.</p>'
    )
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
        + "<h3>Audit checkpoint</h3>"
        + audit
        + f"<h2>Assignments ({len(cells)})</h2>"
        + ("".join(_assignment(c) for c in cells) or '<p class="empty">None.</p>')
    )


def host_page(fleet: Fleet, name: str) -> str:
    return page(name, host_detail(fleet, name), kind="host", subject=name)


# -- a Configuration -------------------------------------------------------------------------


def configuration_detail(fleet: Fleet, key: str) -> str:
    info: ConfigurationInfo | None = fleet.configuration(key)
    if info is None:
        return f'<h2>{_e(key)}</h2><p class="empty">No such Configuration (or not visible).</p>'
    s = info.status
    cells = [c for h in fleet.host_names() for c in fleet.cells(h) if c.configuration == key]
    ready = sum(1 for c in cells if c.state is CellState.READY and c.generation == info.generation)
    desired = s.desired or len(cells)
    ready_cond = next((c for c in s.conditions if c.type == "Ready"), None)
    failing = "".join(
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
        f'<h2 id="configuration-name">{_e(key)}</h2>'
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
                ("Cells ready at this generation", ready),
            ]
        )
        + "<h3>Failing hosts</h3>"
        + (
            '<table class="failing"><thead><tr><th>Host</th><th>Resource</th><th>Reason</th>'
            f"<th>Message</th></tr></thead><tbody>{failing}</tbody></table>"
            if failing
            else '<p class="empty">None.</p>'
        )
        + "<h3>Hosts</h3>"
        + '<table class="hosts"><thead><tr><th>Host</th><th>State</th><th>Gen</th>'
        f"<th>Revision</th><th>Message</th></tr></thead><tbody>{hosts}</tbody></table>"
    )


def configuration_page(fleet: Fleet, key: str) -> str:
    return page(key, configuration_detail(fleet, key), kind="configuration", subject=key)
