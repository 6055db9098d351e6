"""The shared workload: N files already in their desired state, and the same desired state as a
Transom document, a Puppet manifest and an Ansible playbook, so every tool checks the same
files. Plus the small helpers every benchmark module uses (rows, percentiles, progress)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Row = dict[str, Any]

FILE_MODE = 0o644
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Workload:
    root: Path
    files: tuple[Path, ...]
    contents: tuple[str, ...]
    document: Path
    manifest: Path
    playbook: Path
    #: The same files as a CFEngine policy, for cf-agent.
    policy: Path


def content_of(i: int) -> str:
    # A few lines, like a small config file: enough that a read is a real read.
    return "".join(f"setting_{i}_{j} = value {i * 31 + j}\n" for j in range(4))


def make_workload(base: Path, n: int) -> Workload:
    """Create ``n`` files under ``base``/files in their desired state, and the three desired
    state descriptions of them beside."""
    root = base / "files"
    root.mkdir(parents=True, exist_ok=True)
    files = tuple(root / f"app-{i:04d}.conf" for i in range(n))
    contents = tuple(content_of(i) for i in range(n))
    for path, content in zip(files, contents, strict=True):
        path.write_text(content)
        path.chmod(FILE_MODE)
    mode = f"{FILE_MODE:04o}"
    document = base / "transom.yaml"
    document.write_text(
        yaml.safe_dump(
            {
                "mode": "ApplyAndAutoCorrect",
                "resources": [
                    {"name": p.stem, "file": {"path": str(p), "content": c, "mode": mode}}
                    for p, c in zip(files, contents, strict=True)
                ],
            },
            sort_keys=False,
        )
    )
    manifest = base / "puppet.pp"
    manifest.write_text(
        "".join(
            f"file {{ {_puppet_string(str(p))}:\n  ensure => file,\n"
            f"  content => {_puppet_string(c)},\n  mode => '{mode}',\n}}\n"
            for p, c in zip(files, contents, strict=True)
        )
    )
    playbook = base / "ansible.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    # Facts are not needed by the copy loop; gathering them would only add time.
                    "gather_facts": False,
                    "vars": {
                        "files": [
                            {"path": str(p), "content": c}
                            for p, c in zip(files, contents, strict=True)
                        ]
                    },
                    "tasks": [
                        {
                            "name": "files",
                            "ansible.builtin.copy": {
                                "dest": "{{ item.path }}",
                                "content": "{{ item.content }}",
                                "mode": mode,
                            },
                            "loop": "{{ files }}",
                            "loop_control": {"label": "{{ item.path }}"},
                        }
                    ],
                }
            ],
            indent=1,
        )
    )
    policy = base / "cfengine.cf"
    policy.write_text(cfengine_policy(files, contents, mode))
    # cf-agent refuses a policy file that others may write.
    policy.chmod(0o600)
    return Workload(root, files, contents, document, manifest, playbook, policy)


def cfengine_policy(files: tuple[Path, ...], contents: tuple[str, ...], mode: str) -> str:
    """One files promise per file: its content and mode, created if missing (as the Puppet
    manifest's ensure => file)."""
    promises = "".join(
        f'    {_cfengine_string(str(p))}\n      create => "true",\n'
        f"      content => {_cfengine_string(c)},\n      perms => transom_bench_mode;\n"
        for p, c in zip(files, contents, strict=True)
    )
    return (
        'body common control\n{\n  bundlesequence => { "transom_bench" };\n}\n\n'
        f'body perms transom_bench_mode\n{{\n  mode => "{mode}";\n  rxdirs => "false";\n}}\n\n'
        f"bundle agent transom_bench\n{{\n  files:\n{promises}}}\n"
    )


def _cfengine_string(text: str) -> str:
    """A double-quoted CFEngine string; $( and @( would expand, so they are refused."""
    if "$(" in text or "${" in text or "@(" in text or "@{" in text:
        raise ValueError(f"CFEngine would expand a variable in {text[:40]!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _puppet_string(text: str) -> str:
    """A single-quoted Puppet string: only backslash and quote are special there."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): always one of the measured values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def row(benchmark: str, metric: str, value: float, unit: str, note: str = "") -> Row:
    return {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit, "note": note}


def progress(message: str) -> None:
    print(f"    {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    """The 1-minute load average, noted beside wall-clock figures: the machine may be shared."""
    return f"load {os.getloadavg()[0]:.1f}"


def python_env() -> dict[str, str]:
    """The environment for child Pythons: with bytecode caching on, as an installed agent has
    its modules compiled; a developer shell may turn it off (PYTHONDONTWRITEBYTECODE)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def transom_command() -> list[str]:
    """The installed `transom` entry point of the running venv."""
    script = Path(sys.executable).parent / "transom"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "transom.cli.main"]
