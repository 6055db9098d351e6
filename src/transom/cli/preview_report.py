"""A preview's answers as a reviewer reads them: per host, grouped when hosts share the same
answer, with the summary line and the three outputs of `transom preview` (table, JSON,
markdown for a pull-request comment). Pure functions of the answers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from transom.api.preview import HostPreviewStatus, HostVerdict, host_verdict, reason_words

#: How a host's own name is shown in a group of hosts.
HOST_PLACEHOLDER = "$(host.name)"
#: Why an unanswered host is unknown.
OFFLINE = "offline"
NO_ANSWER = "no answer in time"
#: GitHub refuses comments over 65,536 characters; leave room for a CI job's own lines.
MAX_MARKDOWN = 60_000
#: Hosts named in a group's heading and failures named in the summary line.
NAMED_HOSTS = 5
NAMED_FAILURES = 3

#: Which of a host's answers (one per proposed Configuration) speaks for the host.
_WEIGHT = {
    HostVerdict.FAILS: 3,
    HostVerdict.UNKNOWN: 2,
    HostVerdict.CHANGES: 1,
    HostVerdict.NO_CHANGES: 0,
}
_WORDS = {
    HostVerdict.FAILS: "would fail",
    HostVerdict.CHANGES: "would change",
    HostVerdict.NO_CHANGES: "unchanged",
    HostVerdict.UNKNOWN: "unknown",
}


@dataclass(frozen=True, order=True)
class Change:
    resource: str
    type: str
    property: str
    current: str
    desired: str


@dataclass(frozen=True, order=True)
class Failure:
    resource: str
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class HostAnswer:
    """One host's answer for one proposed Configuration."""

    host: str
    configuration: str
    verdict: HostVerdict
    #: Why it fails (the first failure) or why it is unknown.
    why: str = ""
    changes: tuple[Change, ...] = ()
    failures: tuple[Failure, ...] = ()
    reboot_required: bool = False

    def generic(self) -> HostAnswer:
        """This answer with the host's own name written as $(host.name) in values and
        messages, as the Configuration wrote it: hosts whose answers differ only by their
        names share a group."""
        own = re.compile(rf"(?<![A-Za-z0-9-]){re.escape(self.host)}(?![A-Za-z0-9-])")

        def g(text: str) -> str:
            return own.sub(HOST_PLACEHOLDER, text)

        return HostAnswer(
            self.host,
            self.configuration,
            self.verdict,
            g(self.why),
            tuple(
                Change(c.resource, c.type, c.property, g(c.current), g(c.desired))
                for c in self.changes
            ),
            tuple(Failure(f.resource, f.type, f.reason, g(f.message)) for f in self.failures),
            self.reboot_required,
        )

    def signature(self) -> tuple[Any, ...]:
        """What hosts must share to be shown as one group: everything but the host's name."""
        a = self.generic()
        return (a.configuration, a.verdict, a.why, a.changes, a.failures, a.reboot_required)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "configuration": self.configuration,
            "result": self.verdict.value,
            "why": self.why,
            "rebootRequired": self.reboot_required,
            "changes": [
                {
                    "resource": c.resource,
                    "type": c.type,
                    "property": c.property,
                    "current": c.current,
                    "desired": c.desired,
                }
                for c in self.changes
            ],
            "failures": [
                {"resource": f.resource, "type": f.type, "reason": f.reason, "message": f.message}
                for f in self.failures
            ],
        }


def from_status(host: str, configuration: str, status: HostPreviewStatus) -> HostAnswer:
    verdict = host_verdict(status)
    changes = tuple(
        Change(r.name, r.type, ch.property, ch.current, ch.desired)
        for r in status.results
        for ch in r.changes
    )
    failures = tuple(
        Failure(r.name, r.type, r.reason, r.message) for r in status.results if r.failed
    )
    if status.error:
        failures = (Failure("", "", "Invalid", status.error), *failures)
    return HostAnswer(
        host,
        configuration,
        verdict.verdict,
        verdict.message,
        changes,
        failures,
        status.reboot_required,
    )


def unknown(host: str, configuration: str, why: str) -> HostAnswer:
    return HostAnswer(host, configuration, HostVerdict.UNKNOWN, why)


def failed_before_asked(host: str, configuration: str, reason: str, message: str) -> HostAnswer:
    """A host the controller did not ask: the rollout would stop before reaching it."""
    return HostAnswer(
        host,
        configuration,
        HostVerdict.FAILS,
        f"{reason_words(reason)}: {message}",
        failures=(Failure("", "", reason, message),),
    )


# -- grouping and counting ----------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Hosts with the same answer for one Configuration."""

    sample: HostAnswer
    hosts: tuple[str, ...]


def groups(answers: Iterable[HostAnswer]) -> list[Group]:
    """Each answer in exactly one group; a group's hosts share everything but their name.
    Failing groups first, then changes, unknown, unchanged; larger groups first within."""
    by: dict[tuple[Any, ...], list[HostAnswer]] = {}
    for a in answers:
        by.setdefault(a.signature(), []).append(a)
    out = [Group(members[0], tuple(sorted(m.host for m in members))) for members in by.values()]
    return sorted(
        out,
        key=lambda g: (-_WEIGHT[g.sample.verdict], -len(g.hosts), g.sample.configuration, g.hosts),
    )


def per_host(answers: Iterable[HostAnswer]) -> dict[str, HostAnswer]:
    """Each host's deciding answer: a failure over unknown over a change over none."""
    out: dict[str, HostAnswer] = {}
    for a in sorted(answers, key=lambda a: (a.host, a.configuration)):
        seen = out.get(a.host)
        if seen is None or _WEIGHT[a.verdict] > _WEIGHT[seen.verdict]:
            out[a.host] = a
    return out


def summary(answers: Sequence[HostAnswer]) -> str:
    """ "37 hosts would change, 2 would fail (web07: denied by host policy: ...), 5 offline"."""
    hosts = per_host(answers)
    by: dict[HostVerdict, list[HostAnswer]] = {v: [] for v in HostVerdict}
    for a in hosts.values():
        by[a.verdict].append(a)
    parts: list[str] = []
    if by[HostVerdict.CHANGES]:
        parts.append(f"{_hosts(len(by[HostVerdict.CHANGES]))} would change")
    fails = by[HostVerdict.FAILS]
    if fails:
        named = "; ".join(f"{a.host}: {a.why}" for a in fails[:NAMED_FAILURES])
        more = f"; and {len(fails) - NAMED_FAILURES} more" if len(fails) > NAMED_FAILURES else ""
        parts.append(f"{_hosts(len(fails))} would fail ({named}{more})")
    unknowns = by[HostVerdict.UNKNOWN]
    offline = sum(1 for a in unknowns if a.why == OFFLINE)
    if offline:
        parts.append(f"{offline} offline")
    if len(unknowns) - offline:
        parts.append(f"{len(unknowns) - offline} did not answer")
    if by[HostVerdict.NO_CHANGES]:
        parts.append(f"{_hosts(len(by[HostVerdict.NO_CHANGES]))} unchanged")
    return ", ".join(parts) or "no host selected"


def _hosts(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"


def any_fails(answers: Iterable[HostAnswer]) -> bool:
    return any(a.verdict is HostVerdict.FAILS for a in answers)


# -- outputs ------------------------------------------------------------------------------------


def table(answers: Sequence[HostAnswer]) -> str:
    lines: list[str] = []
    for a in sorted(answers, key=lambda a: (a.host, a.configuration)):
        head = f"{a.host}  {a.configuration}  {_WORDS[a.verdict]}"
        if a.why:
            head += f": {a.why}"
        if a.reboot_required:
            head += " (reboot needed)"
        lines.append(_one_line(head))
        lines += [
            _one_line(f"    {c.type}/{c.resource}  {c.property}: {c.current} -> {c.desired}")
            for c in a.changes
        ]
    lines.append(summary(answers))
    return "\n".join(lines)


def to_json(answers: Sequence[HostAnswer]) -> dict[str, Any]:
    return {
        "summary": summary(answers),
        "failed": any_fails(answers),
        "hosts": [a.to_json() for a in sorted(answers, key=lambda a: (a.host, a.configuration))],
        "groups": [
            {"hosts": list(g.hosts), "configuration": g.sample.configuration}
            for g in groups(answers)
        ],
    }


def markdown(answers: Sequence[HostAnswer], title: str = "Transom preview") -> str:
    """A pull-request comment: the summary, then one collapsed section per group of hosts
    with the same answer. Every text from a host or a spec is escaped (no markup, no
    mentions), and the whole stays under GitHub's comment limit."""
    head = [f"### {md(title)}", "", f"**{md(summary(answers))}**", ""]
    sections = [_section(g) for g in groups(answers)]
    out = "\n".join(head)
    for i, section in enumerate(sections):
        if len(out) + len(section) > MAX_MARKDOWN:
            out += (
                f"\n_{len(sections) - i} more group(s) not shown: "
                "see `transom preview --output json`._\n"
            )
            break
        out += section
    return out


def _section(g: Group) -> str:
    a = g.sample.generic()
    shown = ", ".join(g.hosts[:NAMED_HOSTS])
    if len(g.hosts) > NAMED_HOSTS:
        shown += f" and {len(g.hosts) - NAMED_HOSTS} more"
    what = _WORDS[a.verdict]
    detail = ""
    if a.verdict is HostVerdict.CHANGES:
        resources = len({(c.resource, c.type) for c in a.changes})
        detail = f": {resources} resource(s), {len(a.changes)} propert(ies)"
    elif a.why:
        detail = f": {a.why}"
    if a.reboot_required:
        detail += ", reboot needed"
    heading = (
        f"<b>{html(what)}</b> on {len(g.hosts)} host(s) ({html(shown)}), "
        f"Configuration {html(a.configuration)}{html(detail)}"
    )
    lines = ["<details>", f"<summary>{heading}</summary>", ""]
    lines.append(f"Hosts: {md(', '.join(g.hosts))}")
    lines.append("")
    if a.changes:
        lines += ["| resource | property | current | desired |", "|---|---|---|---|"]
        lines += [
            f"| {md(c.type)}/{md(c.resource)} | {md(c.property)} | {md(c.current)} "
            f"| {md(c.desired)} |"
            for c in a.changes
        ]
        lines.append("")
    if a.failures:
        lines += ["| resource | reason | message |", "|---|---|---|"]
        lines += [
            f"| {md(f.type + '/' + f.resource if f.resource else '-')} | {md(f.reason)} "
            f"| {md(f.message)} |"
            for f in a.failures
        ]
        lines.append("")
    lines += ["</details>", ""]
    return "\n".join(lines) + "\n"


_NEWLINES = re.compile(r"\r\n|\r|\n")
#: Markdown's punctuation that can start markup, escaped with a backslash (CommonMark allows it
#: before any ASCII punctuation).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+\-.!~|])")


def html(text: str) -> str:
    """Text for an HTML context (a <summary>): entities for &, <, >, quotes and @, one line."""
    text = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("@", "&#64;")
    )
    return _NEWLINES.sub(" ", text)


def md(text: str) -> str:
    """Text for a markdown paragraph or table cell: no markup, no HTML, no @mention, one line
    (line breaks become <br>), pipes escaped so a cell stays a cell."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("@", "&#64;")
    return _NEWLINES.sub("<br>", text)


def _one_line(text: str) -> str:
    return _NEWLINES.sub(" ", text)
