"""The service host's log file in the state directory (a service has no console and Wine keeps
no Event Log): where it goes, that it appends, that it is rotated, when there is none."""

from __future__ import annotations

from pathlib import Path

from transom.agent import servicehost


def test_the_log_is_appended_in_the_state_directory_the_command_line_names(
    tmp_path: Path,
) -> None:
    args = [f"--state-dir={tmp_path}", "--log-level=INFO"]
    for line in ("first", "second"):
        stream = servicehost.open_log(args)
        assert stream is not None
        servicehost.note(stream, line)
        stream.close()
    lines = (tmp_path / servicehost.LOG_NAME).read_text().splitlines()
    assert [line.split(" ", 2)[1:] for line in lines] == [
        ["servicehost", "first"],
        ["servicehost", "second"],
    ]


def test_a_log_past_its_size_is_kept_once_as_the_previous_one(tmp_path: Path) -> None:
    path = tmp_path / servicehost.LOG_NAME
    path.write_text("x" * (servicehost.LOG_MAX_BYTES + 1))
    stream = servicehost.open_log([f"--state-dir={tmp_path}"])
    assert stream is not None
    servicehost.note(stream, "after rotation")
    stream.close()
    assert (tmp_path / (servicehost.LOG_NAME + ".1")).stat().st_size > servicehost.LOG_MAX_BYTES
    assert path.read_text().endswith("servicehost after rotation\n")


def test_no_log_without_a_state_directory(tmp_path: Path) -> None:
    assert servicehost.open_log(["--log-level=INFO"]) is None
    assert servicehost.open_log([f"--state-dir={tmp_path / 'not-enrolled'}"]) is None
    assert not (tmp_path / "not-enrolled").exists()
