"""Tampering with a real log file: verify names the first bad record and what was done."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from transom.engine.audit import FindingKind, verify
from transom.engine.audit.canonical import canonical_json, sha256_hex

from .helpers import Lines, tamper, write_records

COUNT = 40
#: Small segments so the log spans several files and tampering crosses boundaries.
SMALL = 3000


def edit(index: int) -> Callable[[Lines], None]:
    def change(lines: Lines) -> None:
        record = lines.record(index)
        record["identity"] = "someone-else"
        lines.set_record(index, record)

    return change


def edit_and_rehash(index: int) -> Callable[[Lines], None]:
    def change(lines: Lines) -> None:
        record = lines.record(index)
        record["revision"] = "main@sha1:ffffffff"
        lines.set_record(index, record, rehash=True)

    return change


def delete(index: int) -> Callable[[Lines], None]:
    def change(lines: Lines) -> None:
        del lines.items[index]

    return change


def swap(index: int) -> Callable[[Lines], None]:
    def change(lines: Lines) -> None:
        a, b = lines.items[index], lines.items[index + 1]
        a.data, b.data = b.data, a.data

    return change


def move_later(index: int, to: int) -> Callable[[Lines], None]:
    def change(lines: Lines) -> None:
        datas = [i.data for i in lines.items]
        datas.insert(to, datas.pop(index))
        for item, data in zip(lines.items, datas, strict=True):
            item.data = data

    return change


def insert_copy(index: int, of: int) -> Callable[[Lines], None]:
    def change(lines: Lines) -> None:
        lines.items.insert(index, type(lines.items[index])(lines.items[index].segment, b""))
        lines.items[index].data = lines.items[of + (1 if of >= index else 0)].data

    return change


def insert_forged(index: int) -> Callable[[Lines], None]:
    """A well-formed record that links to its predecessor and hashes correctly."""

    def change(lines: Lines) -> None:
        forged = lines.record(index)
        forged["resource"] = "backdoor"
        forged["prevHash"] = lines.record(index - 1)["hash"]
        forged.pop("hash")
        forged["hash"] = sha256_hex(canonical_json(forged))
        lines.items.insert(index, type(lines.items[index])(lines.items[index].segment, b""))
        lines.set_record(index, forged)

    return change


def insert_garbage(index: int) -> Callable[[Lines], None]:
    def change(lines: Lines) -> None:
        lines.items.insert(
            index, type(lines.items[index])(lines.items[index].segment, b'{"seq": 1000}')
        )

    return change


CASES = [
    ("edit", edit(10), FindingKind.ALTERED, 10),
    ("edit-first", edit(0), FindingKind.ALTERED, 0),
    ("edit-last", edit(COUNT - 1), FindingKind.ALTERED, COUNT - 1),
    ("edit-rehash", edit_and_rehash(10), FindingKind.ALTERED, 10),
    ("delete", delete(10), FindingKind.REMOVED, 10),
    ("delete-first", delete(0), FindingKind.REMOVED, 0),
    ("swap", swap(10), FindingKind.REORDERED, 10),
    ("move-later", move_later(10, 20), FindingKind.REORDERED, 10),
    ("move-earlier", move_later(20, 10), FindingKind.REORDERED, 10),
    ("insert-copy-of-earlier", insert_copy(10, 3), FindingKind.INSERTED, 10),
    ("insert-copy-of-later", insert_copy(10, 30), FindingKind.INSERTED, 10),
    ("insert-copy-of-previous", insert_copy(10, 9), FindingKind.INSERTED, 10),
    ("insert-forged", insert_forged(10), FindingKind.INSERTED, 10),
    ("insert-garbage", insert_garbage(10), FindingKind.INSERTED, 10),
]


@pytest.mark.parametrize("segment_bytes", [8 * 1024 * 1024, SMALL], ids=["one-file", "rotated"])
@pytest.mark.parametrize(
    ("change", "kind", "index"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_verify_names_the_first_bad_record(
    tmp_path: Path,
    segment_bytes: int,
    change: Callable[[Lines], None],
    kind: FindingKind,
    index: int,
) -> None:
    write_records(tmp_path, COUNT, max_segment_bytes=segment_bytes)
    assert verify(tmp_path).ok
    lines = tamper(tmp_path, change)

    report = verify(tmp_path)
    assert not report.ok
    bad = report.first_bad
    assert bad is not None
    assert bad.kind is kind, str(bad)
    assert bad.sequence == index + 1, str(bad)
    assert (bad.segment, bad.line) == lines.location(index), str(bad)


def test_tampering_across_a_segment_boundary(tmp_path: Path) -> None:
    write_records(tmp_path, COUNT, max_segment_bytes=SMALL)
    lines = Lines(tmp_path)
    second = lines.segments[1]
    first_of_second = next(n for n, i in enumerate(lines.items) if i.segment == second)

    tamper(tmp_path, swap(first_of_second - 1))
    bad = verify(tmp_path).first_bad
    assert bad is not None and bad.kind is FindingKind.REORDERED
    assert (bad.sequence, bad.segment, bad.line) == (
        first_of_second,
        lines.segments[0].name,
        lines.location(first_of_second - 1)[1],
    )
    tamper(tmp_path, swap(first_of_second - 1))
    assert verify(tmp_path).ok

    tamper(tmp_path, delete(first_of_second))
    bad = verify(tmp_path).first_bad
    assert bad is not None and bad.kind is FindingKind.REMOVED
    assert (bad.sequence, bad.segment, bad.line) == (first_of_second + 1, second.name, 1)


def test_a_whole_segment_removed(tmp_path: Path) -> None:
    write_records(tmp_path, COUNT, max_segment_bytes=SMALL)
    lines = Lines(tmp_path)
    second = lines.segments[1]
    missing = [n + 1 for n, i in enumerate(lines.items) if i.segment == second]
    second.unlink()

    bad = verify(tmp_path).first_bad
    assert bad is not None and bad.kind is FindingKind.REMOVED
    assert bad.sequence == missing[0]
    assert bad.segment == lines.segments[2].name and bad.line == 1
    assert f"{missing[0]}-{missing[-1]} missing" in bad.message


def test_a_line_without_canonical_form_is_altered(tmp_path: Path) -> None:
    write_records(tmp_path, 5)
    segment = tmp_path / "audit-00000001.jsonl"
    lines = segment.read_bytes().splitlines()
    lines[2] = lines[2].replace(b'"generation":7', b'"generation":NaN')
    segment.write_bytes(b"\n".join(lines) + b"\n")
    bad = verify(tmp_path).first_bad
    assert bad is not None and (bad.kind, bad.sequence, bad.line) == (FindingKind.ALTERED, 3, 3)


def test_head_stops_before_a_rewritten_record(tmp_path: Path) -> None:
    write_records(tmp_path, 10)
    tamper(tmp_path, edit_and_rehash(4))
    report = verify(tmp_path)
    assert report.first_bad is not None and report.first_bad.sequence == 5
    assert report.head[0] == 4
