"""A posix `transom apply` imports only what its document uses: no Windows model, no Windows
provider, no provider of a type the document does not have (checked in a fresh interpreter,
where nothing else has imported them first)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_RUN = """
import json, sys
from transom.cli.main import main
code = main(["apply", "-f", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _apply_modules(document: Path) -> tuple[int, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(document)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["code"], set(out["modules"])


def test_posix_apply_imports_no_windows_model(tmp_path: Path) -> None:
    target = tmp_path / "app.conf"
    document = tmp_path / "doc.yaml"
    document.write_text(
        json.dumps(
            {
                "resources": [
                    {"name": "dir", "directory": {"path": str(tmp_path / "d")}},
                    {"name": "conf", "file": {"path": str(target), "content": "x\n"}},
                ]
            }
        )
    )
    code, modules = _apply_modules(document)
    assert code == 0 and target.read_text() == "x\n"
    assert "transom.api.resources.windows" not in modules
    assert not {m for m in modules if m.startswith("transom.providers.windows")}
    # Types the document does not use are not loaded either.
    unused = {"archive", "command", "environment"}
    assert not {m for m in modules if m.rsplit(".", 1)[-1] in unused and "transom." in m}
    assert "transom.api.resources.files" in modules
    # Nor the cluster's models, nor the download stack a local file never needs.
    assert not {"transom.api.configuration", "transom.api.assignment"} & modules
    assert not {"ssl", "urllib.request"} & modules
