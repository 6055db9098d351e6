"""The unpacked bundle's own Python, under Wine: every Transom module imports, `transom
--version` and `transom apply` work, and the Event Log message file has a message for every
event ID (FormatMessage on the DLL the bundle built)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import transom
from transom.engine.audit.sinks import EVENT_TITLES

from .conftest import Bundle, WineMachine, windows_path

pytestmark = pytest.mark.timeout(900)

CHECK = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import transom, win32api, win32con
    skip = set(sys.argv[2:])
    failed = {}
    names = sorted(m.name for m in pkgutil.walk_packages(transom.__path__, "transom."))
    for name in names:
        if name in skip:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = repr(exc)
    dll = win32api.LoadLibraryEx(sys.argv[1], 0, 0x2)  # LOAD_LIBRARY_AS_DATAFILE
    messages = {}
    for event_id in range(1000, 1020):
        try:
            text = win32api.FormatMessageW(
                win32con.FORMAT_MESSAGE_FROM_HMODULE | 0x200, dll, event_id, 0, None
            )
        except Exception:
            continue
        messages[event_id] = text
    print(json.dumps({"modules": len(names), "failed": failed, "messages": messages,
                      "path": sys.path, "prefix": sys.prefix}))
    """
)


def test_bundle_python_imports_everything_and_runs_transom(
    bundle: Bundle, machine: WineMachine, tmp_path: Path
) -> None:
    size = bundle.zip_path.stat().st_size
    print(f"[bundle] {bundle.zip_path.name}: {size / 2**20:.1f} MiB")
    script = tmp_path / "check.py"
    script.write_text(CHECK)
    dll = windows_path(bundle.root / "python" / "transom-events.dll")
    # inotify is a Linux API, imported only where that API is chosen (as tests/unit/test_imports).
    done = machine.run(
        bundle.python, "-I", windows_path(script), dll, "transom.providers.posix.inotify"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["failed"] == {}
    assert seen["modules"] > 100
    # Its own site-packages only: -I and the ._pth keep the checkout and PYTHON* out.
    assert all(str(bundle.root).split("/")[-1] in p or p.endswith(".zip") for p in seen["path"])
    assert {int(k) for k in seen["messages"]} == {int(e) for e in EVENT_TITLES}
    for event_id, title in EVENT_TITLES.items():
        # %1 stays for the event's own text (FORMAT_MESSAGE_IGNORE_INSERTS).
        assert seen["messages"][str(int(event_id))].startswith(title)

    version = machine.run(bundle.python, "-I", "-m", "transom.cli.main", "--version")
    assert version.stdout.strip() == f"transom {transom.__version__}", version.stderr

    doc = machine.linux_path("C:\\site.yaml")
    doc.write_text(
        textwrap.dedent(
            """
            resources:
              - name: site
                directory: {path: 'C:\\\\inetpub\\\\bundle'}
              - name: page
                dependsOn: [site]
                file: {path: 'C:\\\\inetpub\\\\bundle\\\\index.html', content: hello}
            """
        )
    )
    applied = machine.run(
        bundle.python, "-I", "-m", "transom.cli.main", "apply", "-f", "C:\\site.yaml"
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert machine.linux_path("C:\\inetpub\\bundle\\index.html").read_text() == "hello"
    again = machine.run(
        bundle.python, "-I", "-m", "transom.cli.main", "test", "-f", "C:\\site.yaml"
    )
    assert again.returncode == 0, again.stdout + again.stderr
