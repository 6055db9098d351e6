"""What `transom apply` and `transom test` import: start-up is most of a one-shot run's time
(docs/benchmarks.md), so the local commands must not pull in the agent's HTTP and crypto
stack, the controller, Windows models, or what third-party packages import for features
Transom does not use. A fresh interpreter per command, as a user's shell starts one; the
figures themselves come from bench/engine_bench.py, not from here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

#: Never imported by a local apply or test of a File document.
FORBIDDEN = (
    "transom.agent",
    "transom.controller",
    "transom.kube",
    "transom.ui",
    "transom.dev",
    "transom.api.assignment",
    "transom.api.configuration",
    "transom.api.resources.windows",
    "transom.engine.journal",
    "aiohttp",
    "httpx",
    "cryptography",
    "asyncio",
    "ssl",
    "http.client",
    "urllib.request",
    "email",
    "socket",
    # pydantic imports it only to look for plugins, which transom.cli.startup turns off.
    "importlib.metadata",
)

_PROBE = """
import json, sys
from transom.cli.main import main
code = main(sys.argv[1:])
modules = sorted(sys.modules)
import yaml
lazy = type(yaml.reader.Reader.NON_PRINTABLE).__name__
try:
    yaml.load("key: \\x07", Loader=yaml.SafeLoader)
    rejected = ""
except yaml.YAMLError as exc:
    rejected = type(exc).__name__
print(json.dumps({
    "code": code,
    "modules": modules,
    "non_printable": lazy,
    "pure_python_reader": rejected,
    "unicode": yaml.load("key: \\u00e9\\U0001f600", Loader=yaml.SafeLoader),
}))
"""


def run_probe(*argv: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True, env=env
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def document(tmp_path: Path) -> Path:
    target = tmp_path / "motd"
    doc = tmp_path / "doc.yaml"
    doc.write_text(
        yaml.safe_dump(
            {"resources": [{"name": "motd", "file": {"path": str(target), "content": "hi\n"}}]}
        )
    )
    return doc


# The file does not exist yet: apply creates it (0), test reports that it differs (2).
@pytest.mark.parametrize(("command", "code"), [("apply", 0), ("test", 2)])
def test_local_commands_import_only_what_they_use(command: str, code: int, document: Path) -> None:
    result = run_probe(command, "-f", str(document))
    assert result["code"] == code
    modules = result["modules"]
    assert isinstance(modules, list)
    pulled = sorted(m for m in modules for f in FORBIDDEN if m == f or m.startswith(f"{f}."))
    assert not pulled, f"transom {command} imported {pulled}"
    # The File model and its provider were loaded on use: the probe measured a real run.
    assert {"transom.api.resources.files", "transom.providers.posix.files"} <= set(modules)
    # PyYAML's all-of-Unicode pattern is compiled on first use, never by libyaml's loader;
    # the pure-Python reader still rejects what PyYAML rejects and reads what it reads.
    assert result["non_printable"] == "LazyPattern"
    assert result["pure_python_reader"] == "ReaderError"
    assert result["unicode"] == {"key": "\u00e9\U0001f600"}
