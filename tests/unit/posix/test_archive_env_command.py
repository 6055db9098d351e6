"""posix Archive, EnvironmentVariable and Command."""

from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.unit.engine.helpers import doc, posix_engine
from transom.api.conditions import CHECKSUM_MISMATCH, COMMAND_FAILED
from transom.engine.converge import Engine
from transom.engine.result import Status
from transom.providers.posix import posix_providers
from transom.providers.posix.reboot import PosixRebooter


def _zip(path: Path, entries: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _archive(dest: Path, source: Path, sha: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "archive": {"path": str(dest), "source": str(source), "sha256": sha, **extra},
    }


def test_archive_extracts_once_and_is_idempotent_by_content(tmp_path: Path) -> None:
    source = tmp_path / "app.zip"
    sha = _zip(source, {"bin/app": b"v1", "conf/app.ini": b"[a]\n", "README": b"hi"})
    dest = tmp_path / "app"
    engine = posix_engine()
    resources = doc(_archive(dest, source, sha))
    assert engine.apply(resources).changed
    assert (dest / "bin" / "app").read_bytes() == b"v1"
    assert not engine.apply(resources).changed
    # Same size, different bytes: found by content, not by size or time.
    (dest / "bin" / "app").write_bytes(b"v2")
    (dest / "README").unlink()
    report = engine.test(resources)
    assert report.results[0].diff[0].actual == "<2 files differ>"
    assert engine.apply(resources).changed
    assert (dest / "bin" / "app").read_bytes() == b"v1" and (dest / "README").exists()


def test_archive_clean_removes_files_not_in_it(tmp_path: Path) -> None:
    source = tmp_path / "app.zip"
    sha = _zip(source, {"a": b"1"})
    dest = tmp_path / "app"
    dest.mkdir()
    (dest / "stray").write_text("x")
    posix_engine().apply(doc(_archive(dest, source, sha)))
    assert (dest / "stray").exists()
    posix_engine().apply(doc(_archive(dest, source, sha, clean=True)))
    assert sorted(p.name for p in dest.iterdir()) == ["a"]


def test_archive_with_wrong_sha256_is_not_extracted(tmp_path: Path) -> None:
    source = tmp_path / "app.zip"
    _zip(source, {"a": b"1"})
    dest = tmp_path / "app"
    report = posix_engine().apply(doc(_archive(dest, source, "0" * 64)))
    assert report.results[0].reason == CHECKSUM_MISMATCH
    assert not dest.exists() or not any(dest.iterdir())


def test_archive_entries_escaping_the_folder_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "evil.zip"
    sha = _zip(source, {"../escaped": b"x"})
    report = posix_engine().apply(doc(_archive(tmp_path / "app", source, sha)))
    assert report.results[0].status is Status.FAILED
    assert "outside the folder" in report.results[0].message
    assert not (tmp_path / "escaped").exists()


def _env(name: str, file: Path, value: str | None) -> dict[str, Any]:
    props: dict[str, Any] = {"name": name, "file": str(file)}
    if value is None:
        props["ensure"] = "absent"
    else:
        props["value"] = value
    return {"name": f"env-{name.lower()}", "environmentVariable": props}


@pytest.mark.posix_only("the posix environment file provider (Windows has its own)")
def test_environment_file_lines_are_added_updated_and_removed_in_place(tmp_path: Path) -> None:
    env = tmp_path / "environment"
    env.write_text('# managed by hand too\nPATH="/usr/bin"\nJAVA_HOME=/old\nLANG=C\n')
    engine = posix_engine()
    engine.apply(doc(_env("JAVA_HOME", env, "/opt/jdk 21"), _env("NEW", env, "1")))
    assert env.read_text() == (
        '# managed by hand too\nPATH="/usr/bin"\nJAVA_HOME="/opt/jdk 21"\nLANG=C\nNEW=1\n'
    )
    assert not engine.apply(doc(_env("JAVA_HOME", env, "/opt/jdk 21"))).changed
    engine.apply(doc(_env("LANG", env, None)))
    assert "LANG" not in env.read_text() and "PATH" in env.read_text()


def test_environment_value_that_a_file_cannot_hold_fails(tmp_path: Path) -> None:
    report = posix_engine().apply(doc(_env("X", tmp_path / "env", 'say "hi"')))
    assert report.results[0].status is Status.FAILED
    assert not (tmp_path / "env").exists()


def _command(tmp_path: Path, test: str, set_: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "cmd",
        "command": {"test": test, "set": set_, "workingDirectory": str(tmp_path), **extra},
    }


@pytest.mark.posix_only("posix commands run through /bin/sh")
def test_command_runs_set_only_when_test_fails(tmp_path: Path) -> None:
    resources = doc(_command(tmp_path, "test -f marker", "echo run >> log; touch marker"))
    engine = posix_engine()
    assert engine.apply(resources).changed
    assert not engine.apply(resources).changed
    assert (tmp_path / "log").read_text() == "run\n"


@pytest.mark.posix_only("posix commands run through /bin/sh")
def test_command_failure_reports_its_output(tmp_path: Path) -> None:
    report = posix_engine().apply(doc(_command(tmp_path, "false", "echo broken >&2; exit 3")))
    assert report.results[0].reason == COMMAND_FAILED
    assert report.results[0].message == "set command exited 3: broken"


@pytest.mark.posix_only("posix commands run through /bin/sh")
def test_command_whose_test_still_fails_after_set_is_not_converged(tmp_path: Path) -> None:
    report = posix_engine().apply(doc(_command(tmp_path, "false", "true")))
    assert report.results[0].status is Status.FAILED
    assert report.results[0].reason == "NotConverged"


@pytest.mark.posix_only("posix commands run through /bin/sh")
@pytest.mark.timeout(20)
def test_command_timeout_kills_the_process_group(tmp_path: Path) -> None:
    started = time.monotonic()
    report = posix_engine().apply(
        doc(
            _command(
                tmp_path, "false", "sleep 30 & sleep 30", timeoutSeconds=1, environment={"A": "1"}
            )
        )
    )
    assert report.results[0].reason == COMMAND_FAILED
    assert "timed out after 1 s" in report.results[0].message
    assert time.monotonic() - started < 10


def test_archive_from_url_is_downloaded_once_and_cache_is_verified(
    tmp_path: Path, web: tuple[str, Path]
) -> None:
    url, served = web
    sha = _zip(served / "app.zip", {"index.html": b"<h1>v1</h1>"})
    cache = tmp_path / "cache"
    engine = Engine(posix_providers(str(cache)))
    resources = doc(
        {
            "name": "app",
            "archive": {"path": str(tmp_path / "app"), "source": f"{url}/app.zip", "sha256": sha},
        }
    )
    assert engine.test(resources).results[0].status is Status.DIFFERS
    assert engine.apply(resources).changed
    assert (tmp_path / "app" / "index.html").read_bytes() == b"<h1>v1</h1>"
    (served / "app.zip").unlink()  # no second download needed
    assert not engine.apply(resources).changed
    # Something replaces the cached archive: it is not trusted by its name.
    _zip(cache / f"{sha}.zip", {"index.html": b"<h1>evil</h1>"})
    (tmp_path / "app" / "index.html").write_bytes(b"x")
    report = engine.apply(resources)
    assert report.results[0].reason == CHECKSUM_MISMATCH
    assert (tmp_path / "app" / "index.html").read_bytes() == b"x"


@pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").exists(), reason="Linux only")
def test_boot_id_is_stable_within_a_boot() -> None:
    rebooter = PosixRebooter()
    assert rebooter.boot_id() == rebooter.boot_id()
    assert len(rebooter.boot_id()) == 36
