"""The preview report: grouping keeps every answer exactly once and only merges identical
ones; markdown escapes whatever a host or a spec says; the summary line and exit rule."""

from __future__ import annotations

import html as html_lib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from transom.api.preview import HostPreviewStatus, HostVerdict, PreviewChange, PreviewResult
from transom.cli import preview_report as report
from transom.cli.preview_report import Change, Failure, HostAnswer

text = st.text(max_size=40)
changes = st.lists(
    st.builds(
        Change,
        resource=st.sampled_from(["site", "index", "svc"]),
        type=st.sampled_from(["File", "Directory"]),
        property=st.sampled_from(["content", "ensure", "mode"]),
        current=st.sampled_from(['"a"', '"b"', "null"]),
        desired=st.sampled_from(['"a"', '"c"']),
    ),
    max_size=3,
).map(tuple)
answers = st.lists(
    st.builds(
        HostAnswer,
        host=st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
        configuration=st.sampled_from(["web", "db"]),
        verdict=st.sampled_from(list(HostVerdict)),
        why=st.sampled_from(["", "offline", "denied by host policy: x"]),
        changes=changes,
        failures=st.sampled_from([(), (Failure("f", "File", "DeniedByHostPolicy", "no"),)]),
        reboot_required=st.booleans(),
    ),
    max_size=30,
    unique_by=lambda a: (a.host, a.configuration),
)


@given(answers)
def test_every_answer_is_in_exactly_one_group_of_identical_answers(
    given_: list[HostAnswer],
) -> None:
    groups = report.groups(given_)
    seen = [(h, g.sample.configuration) for g in groups for h in g.hosts]
    assert sorted(seen) == sorted((a.host, a.configuration) for a in given_)
    by_key = {(a.host, a.configuration): a for a in given_}
    for g in groups:
        for h in g.hosts:
            assert by_key[(h, g.sample.configuration)].signature() == g.sample.signature()
    signatures = [g.sample.signature() for g in groups]
    assert len(signatures) == len(set(signatures))


@given(answers)
def test_markdown_has_one_collapsed_section_per_group(given_: list[HostAnswer]) -> None:
    out = report.markdown(given_)
    assert out.count("<details>") == out.count("</details>") == len(report.groups(given_))


def decode(escaped: str) -> str:
    """What a reader of the rendered markdown sees: the inverse of md()."""
    return re.sub(r"\\(.)", r"\1", html_lib.unescape(escaped.replace("<br>", "\n")))


@given(st.text())
def test_md_escapes_markup_and_round_trips(value: str) -> None:
    escaped = report.md(value)
    assert "\n" not in escaped and "\r" not in escaped
    assert "@" not in escaped  # no mention of a person or team in a PR comment
    assert "<" not in escaped.replace("<br>", "")
    assert ">" not in escaped.replace("<br>", "")
    assert re.search(r"(?<!\\)\|", escaped) is None  # a cell stays one cell
    assert re.search(r"(?<!\\)[`*_\[\]]", escaped) is None
    assert decode(escaped) == re.sub(r"\r\n|\r", "\n", value)


@given(st.text())
def test_html_escapes_for_a_summary_line(value: str) -> None:
    escaped = report.html(value)
    assert not set('<>"@\n\r') & set(escaped)
    assert html_lib.unescape(escaped) == re.sub(r"\r\n|\r|\n", " ", value)


@settings(max_examples=50)
@given(st.text(min_size=1))
def test_hostile_text_in_an_answer_cannot_break_out_of_its_section(value: str) -> None:
    a = HostAnswer(
        "web01",
        "web",
        HostVerdict.FAILS,
        value,
        failures=(Failure("r", "File", "ProviderFailed", value),),
    )
    out = report.markdown([a])
    assert out.count("<details>") == 1 and out.count("</details>") == 1
    assert out.count("<summary>") == 1 and out.count("</summary>") == 1


def answer(host: str, verdict: HostVerdict, why: str = "", conf: str = "web") -> HostAnswer:
    return HostAnswer(host, conf, verdict, why)


def test_summary_line_names_failing_hosts_and_counts_the_rest() -> None:
    given_ = [
        *(answer(f"web{i:02}", HostVerdict.CHANGES) for i in range(37)),
        answer("web70", HostVerdict.FAILS, "denied by host policy: File index"),
        answer("web71", HostVerdict.FAILS, "secret not found: x"),
        *(answer(f"off{i}", HostVerdict.UNKNOWN, report.OFFLINE) for i in range(5)),
        answer("late", HostVerdict.UNKNOWN, report.NO_ANSWER),
        answer("same", HostVerdict.NO_CHANGES),
    ]
    assert report.summary(given_) == (
        "37 hosts would change, 2 hosts would fail (web70: denied by host policy: File index; "
        "web71: secret not found: x), 5 offline, 1 did not answer, 1 host unchanged"
    )
    assert report.any_fails(given_)
    assert not report.any_fails([a for a in given_ if a.verdict is not HostVerdict.FAILS])


def test_a_host_counts_once_by_its_worst_answer() -> None:
    given_ = [
        answer("web01", HostVerdict.CHANGES, conf="a"),
        answer("web01", HostVerdict.FAILS, "invalid: x", conf="b"),
        answer("web02", HostVerdict.NO_CHANGES, conf="a"),
        answer("web02", HostVerdict.CHANGES, conf="b"),
    ]
    assert report.summary(given_) == "1 host would change, 1 host would fail (web01: invalid: x)"


def test_from_status_reads_changes_failures_and_reboot() -> None:
    status = HostPreviewStatus(
        observed_generation=1,
        answered_at="2026-01-01T00:00:00Z",
        reboot_required=True,
        results=[
            PreviewResult(
                name="svc",
                type="Service",
                status="wouldChange",
                reason="DriftDetected",
                changes=[PreviewChange(property="startType", current='"Manual"', desired='"Auto"')],
                reboot_required=True,
            ),
            PreviewResult(
                name="key",
                type="RegistryValue",
                status="denied",
                reason="DeniedByHostPolicy",
                message="registry root not allowed",
            ),
        ],
    )
    a = report.from_status("web07", "web", status)
    assert a.verdict is HostVerdict.FAILS
    assert a.why == "denied by host policy: key (RegistryValue): registry root not allowed"
    assert a.changes == (Change("svc", "Service", "startType", '"Manual"', '"Auto"'),)
    assert a.failures == (
        Failure("key", "RegistryValue", "DeniedByHostPolicy", "registry root not allowed"),
    )
    assert a.reboot_required
    assert "(reboot needed)" in report.table([a])


def test_markdown_stays_under_the_comment_limit() -> None:
    big = [
        HostAnswer(
            f"h{i}",
            "web",
            HostVerdict.CHANGES,
            changes=(Change("f", "File", "content", "x" * 200, f"{i}" * 200),),
        )
        for i in range(2000)
    ]
    out = report.markdown(big)
    assert len(out) <= report.MAX_MARKDOWN
    assert "more group(s) not shown" in out


def test_hosts_differing_only_by_their_own_names_share_a_group() -> None:
    def one(host: str) -> HostAnswer:
        return HostAnswer(
            host,
            "web",
            HostVerdict.CHANGES,
            changes=(Change("site", "Directory", "path", "null", f'"/srv/{host}/site"'),),
        )

    given_ = [one("web01"), one("web02"), one("web010")]
    [group] = report.groups(given_)
    assert group.hosts == ("web01", "web010", "web02")
    out = report.markdown(given_)
    assert md_cell('"/srv/$(host.name)/site"') in out
    # Literal values where one host is shown.
    assert '"/srv/web02/site"' in report.table(given_)


def md_cell(value: str) -> str:
    return report.md(value)
