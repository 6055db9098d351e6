"""`transom apply` and `transom test` as a user runs them: exit codes and output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
TRANSOM = str(Path(sys.executable).parent / "transom")
EXAMPLE = REPO / "examples" / "posix" / "webapp.yaml"
SECRETS = REPO / "examples" / "posix" / "secrets"
SECRET_VALUE = (SECRETS / "web-tls" / "tls.key").read_text().splitlines()[1]

pytestmark = pytest.mark.skipif(not Path(TRANSOM).exists(), reason="transom is not installed")


def transom(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TRANSOM, *args], capture_output=True, text=True, timeout=60, check=False)


def example(action: str, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return transom(
        action, "-f", str(EXAMPLE), "--var", f"ROOT={root}", "--secrets-dir", str(SECRETS), *extra
    )


def test_version() -> None:
    done = transom("--version")
    assert done.returncode == 0 and done.stdout.startswith("transom ")


def test_example_what_if_apply_test_and_drift_exit_codes(tmp_path: Path) -> None:
    root = tmp_path / "site"
    what_if = example("apply", root, "--what-if")
    assert what_if.returncode == 0, what_if.stderr
    assert "would change" in what_if.stdout and not root.exists()
    assert example("test", root).returncode == 2
    applied = example("apply", root, "--state-dir", str(tmp_path / "state"))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "9 resources: 9 changed" in applied.stdout
    assert (tmp_path / "state" / "journal.json").exists()
    clean = example("test", root)
    assert clean.returncode == 0 and "9 resources: 9 ok" in clean.stdout
    (root / "etc" / "nginx" / "sites-enabled" / "web.conf").write_text("tampered")
    drift = example("test", root)
    assert drift.returncode == 2
    assert "differs        File/site-config" in drift.stdout
    assert example("apply", root).returncode == 0
    assert example("test", root).returncode == 0


def test_json_output_and_no_secret_anywhere(tmp_path: Path) -> None:
    root = tmp_path / "site"
    example("apply", root)
    (root / "etc" / "nginx" / "web.key").write_text("stale")
    done = example("test", root, "--output", "json")
    assert done.returncode == 2
    report = json.loads(done.stdout)
    by_name = {r["name"]: r for r in report["results"]}
    assert by_name["tls-key"]["status"] == "differs"
    fixed = example("apply", root, "--output", "json")
    assert json.loads(fixed.stdout)["results"][6]["changed"] is True
    assert (root / "etc" / "nginx" / "web.key").read_text().splitlines()[1] == SECRET_VALUE
    for output in (done.stdout, done.stderr, fixed.stdout, fixed.stderr):
        assert SECRET_VALUE not in output


def test_invalid_document_names_resource_and_field_and_applies_nothing(tmp_path: Path) -> None:
    doc = tmp_path / "doc.yaml"
    doc.write_text(
        f"""
resources:
  - name: fine
    file: {{path: {tmp_path}/fine, content: x}}
  - name: broken
    file: {{path: {tmp_path}/broken, mode: rwx}}
"""
    )
    done = transom("apply", "-f", str(doc))
    assert done.returncode == 1
    assert "resources[1].file.mode" in done.stderr and "nothing was applied" in done.stderr
    assert not (tmp_path / "fine").exists()


def test_failed_resource_exits_1_and_dependents_are_reported(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    doc = tmp_path / "doc.yaml"
    doc.write_text(
        f"""
resources:
  - name: dir
    directory: {{path: {tmp_path}/blocker}}
  - name: child
    dependsOn: [dir]
    file: {{path: {tmp_path}/blocker/x, content: x}}
"""
    )
    done = transom("apply", "-f", str(doc))
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "skipped: dependency 'dir' failed" in done.stdout


def test_policy_denial_exits_1_and_touches_nothing(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"pathRoots: [{tmp_path}/allowed]\n")
    root = tmp_path / "site"
    done = example("apply", root, "--policy", str(policy))
    assert done.returncode == 1
    assert "denied by host policy" in done.stdout
    assert not root.exists()


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    done = transom("test", "-f", str(tmp_path / "nope.yaml"))
    assert done.returncode == 1 and "error:" in done.stderr


def test_progress_goes_to_stderr_on_long_runs(tmp_path: Path) -> None:
    doc = tmp_path / "slow.yaml"
    doc.write_text(
        "resources:\n"
        + "".join(
            f"  - name: c{i}\n    command: {{test: 'sleep 0.3 && test {i} -ge 0', set: 'true'}}\n"
            for i in range(6)
        )
    )
    done = transom("test", "-f", str(doc))
    assert done.returncode == 0
    assert "[" in done.stderr and "/6] Command/c" in done.stderr


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
def test_output_is_parseable_json_for_what_if(tmp_path: Path) -> None:
    done = example("apply", tmp_path / "site", "--what-if", "--output", "json")
    report = json.loads(done.stdout)
    assert report["action"] == "whatIf" and report["summary"] == {"wouldChange": 9}
