"""File and Directory on Windows: atomic content, secrets, ACLs, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from transom.providers.windows import facade as f
from transom.providers.windows.facade import WindowsFacade
from transom.providers.windows.simulated import SimulatedFacade

from .conftest import Secrets, apply, converges, engine


def file(path: str, **props: Any) -> dict[str, Any]:
    return {"name": "f", "file": {"path": path, **props}}


@pytest.mark.wine_lacks("ReplaceFile: Wine 8 removes the replaced file and leaves the replacement")
def test_content_round_trip_and_idempotence(facade: WindowsFacade, root: str) -> None:
    eng = engine(facade)
    path = f"{root}\\web.config"
    converges(eng, file(path, content="<configuration />\r\n"))
    assert facade.file_read(path) == b"<configuration />\r\n"
    report = converges(eng, file(path, content="<configuration>\u00e9</configuration>"))
    assert [d.prop for d in report.results[0].diff] == ["content"]
    converges(eng, file(path, ensure="absent"))
    assert facade.path_kind(path) is None


def test_missing_directory_is_a_clear_error(facade: WindowsFacade, root: str) -> None:
    report = apply(engine(facade), file(f"{root}\\no\\such\\x.txt", content="x"))
    assert report.failed
    assert report.results[0].reason == "NotFound"
    assert "Directory resource" in report.results[0].message


def test_secret_content_never_reaches_results(facade: WindowsFacade, root: str) -> None:
    secret = "connectionString=Server=db;Password=hunter2"
    eng = engine(facade, Secrets({("web", "config"): secret.encode()}))
    path = f"{root}\\app.config"
    props = {"contentFrom": {"secretKeyRef": {"name": "web", "key": "config"}}}
    first = converges(eng, file(path, **props))
    facade.file_write_atomic(path, b"tampered")
    drift = apply(eng, file(path, **props))
    assert drift.changed
    assert facade.file_read(path) == secret.encode()
    for report in (first, drift):
        assert "hunter2" not in json.dumps(report.to_json())


def test_source_checks_sha256(sim: SimulatedFacade, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"payload"
    import urllib.request

    class Response:
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def read(self) -> bytes:
            return body

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response())
    sim.dir_create("C:\\x")
    good = {"url": "https://example.invalid/p", "sha256": hashlib.sha256(body).hexdigest()}
    converges(engine(sim), file("C:\\x\\p.bin", source=good))
    bad = {**good, "sha256": "0" * 64}
    report = apply(engine(sim), file("C:\\x\\q.bin", source=bad))
    assert report.results[0].reason == "ChecksumMismatch"
    assert sim.path_kind("C:\\x\\q.bin") is None


def test_posix_only_properties_are_refused(sim: SimulatedFacade) -> None:
    report = apply(engine(sim), file("C:\\x.txt", content="x", mode="0644"))
    assert report.results[0].reason == "NotSupported"


def test_access_denied(sim: SimulatedFacade) -> None:
    sim.dir_create("C:\\Windows\\System32")
    sim.protect("C:\\Windows\\System32")
    report = apply(engine(sim), file("C:\\Windows\\System32\\drivers.txt", content="x"))
    assert report.results[0].reason == "AccessDenied"


def test_acl_rules_are_ensured_not_exclusive(sim: SimulatedFacade) -> None:
    # Simulated only: IIS AppPool\web exists on a runner only with IIS and that pool.
    sim.app_pool_set({"name": "web"}, None)
    facade, root = sim, "C:"
    eng = engine(facade)
    path = f"{root}\\site"
    existing = f.Ace("BUILTIN\\Administrators", "FullControl")
    facade.dir_create(path)
    facade.acl_add(path, [existing])
    rule = {"identity": "IIS AppPool\\web", "rights": "ReadAndExecute"}
    converges(eng, {"name": "d", "directory": {"path": path, "acl": [rule]}})
    aces = [(a.identity.casefold(), a.rights) for a in facade.acl_get(path)]
    assert ("builtin\\administrators", "FullControl") in aces
    assert ("iis apppool\\web", "ReadAndExecute") in aces
    # Case of the account name does not matter.
    report = apply(
        eng,
        {
            "name": "d",
            "directory": {
                "path": path,
                "acl": [{"identity": "iis apppool\\WEB", "rights": "ReadAndExecute"}],
            },
        },
    )
    assert not report.changed


@pytest.mark.wine_lacks("ReplaceFile: Wine 8 removes the replaced file and leaves the replacement")
def test_replacing_content_keeps_the_acl(facade: WindowsFacade, root: str) -> None:
    path = f"{root}\\keep.txt"
    eng = engine(facade)
    rule = {"identity": "BUILTIN\\Users", "rights": "Read"}
    converges(eng, file(path, content="one", acl=[rule]))
    converges(eng, file(path, content="two", acl=[rule]))
    assert any(a.identity.lower() == "builtin\\users" for a in facade.acl_get(path))


def test_directory_create_and_remove(facade: WindowsFacade, root: str) -> None:
    eng = engine(facade)
    path = f"{root}\\a\\b"
    converges(eng, {"name": "d", "directory": {"path": path}})
    facade.file_write_atomic(f"{path}\\x.txt", b"x")
    report = apply(eng, {"name": "d", "directory": {"path": path, "ensure": "absent"}})
    assert report.failed
    converges(
        eng, {"name": "d", "directory": {"path": path, "ensure": "absent", "recurseDelete": True}}
    )
    assert facade.path_kind(path) is None


def test_archive_is_the_portable_provider(sim: SimulatedFacade, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("bin/app.dll", b"MZ")
        zf.writestr("web.config", b"<configuration/>")
    item = {
        "name": "a",
        "archive": {
            "path": str(tmp_path / "site"),
            "source": str(archive),
            "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        },
    }
    converges(engine(sim), item)
    assert (tmp_path / "site" / "bin" / "app.dll").read_bytes() == b"MZ"
