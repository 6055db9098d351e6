"""tools/lint/privileged.py: privileged code never uses the shared temp folder nor a system
program by its bare name."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.lint.privileged import check_source, main


def problems(source: str) -> list[str]:
    return [p.message for p in check_source(source, "m.py")]


@pytest.mark.parametrize(
    "source",
    [
        "import tempfile\nd = tempfile.gettempdir()\n",
        "from tempfile import gettempdir\nd = gettempdir()\n",
        "import tempfile\nfd, p = tempfile.mkstemp(suffix='.msi')\n",
        "import tempfile\nwith tempfile.TemporaryDirectory() as d: pass\n",
        "import tempfile\nf = tempfile.NamedTemporaryFile()\n",
        "import os\nd = os.environ['TEMP']\n",
        "import os\nd = os.environ.get('TMP')\n",
        "import os\nd = os.getenv('TMPDIR')\n",
        "log = '%TEMP%\\\\transom.log'\n",
        "script = 'Copy-Item x $env:TEMP\\\\y'\n",
        "cache = '/tmp/transom-archives'\n",
    ],
)
def test_the_shared_temp_folder_is_caught(source: str) -> None:
    found = problems(source)
    assert len(found) == 1 and "temp folder" in found[0], found


@pytest.mark.parametrize(
    "source",
    [
        "subprocess.run(['powershell.exe', '-NoProfile'])\n",
        "subprocess.run(['shutdown', '/r', '/t', '60'])\n",
        "subprocess.run('msiexec.exe /i app.msi')\n",
        "subprocess.run('msiexec /i app.msi /qn')\n",
        "subprocess.run(['sc', 'stop', 'w3svc'])\n",
        "subprocess.run(('icacls.exe', 'C:\\\\x'))\n",
    ],
)
def test_bare_system_programs_are_caught(source: str) -> None:
    found = problems(source)
    assert len(found) == 1 and "search path" in found[0], found


@pytest.mark.parametrize(
    "source",
    [
        "import tempfile\nfd, p = tempfile.mkstemp(dir=directory)\n",
        "def f():\n    '''Never in %TEMP% or /tmp: powershell.exe runs by full path.'''\n",
        "raise WindowsApiError(5, 'powershell', 'shutdown failed')\n",
        "path = system32('msiexec.exe')  # privileged-ok: joined to System32\n",
        "cmd = [powershell_exe(), '-NoProfile']\n",
        "x = {'sc': 1, 'net': 2}\n",
    ],
)
def test_what_is_fine(source: str) -> None:
    assert problems(source) == []


def test_the_repository_passes_and_a_bad_file_fails(tmp_path: Path) -> None:
    assert main([str(Path(__file__).parents[3])]) == 0
    bad = tmp_path / "src" / "transom" / "agent" / "x.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("import tempfile\nd = tempfile.gettempdir()\n")
    assert main([str(tmp_path)]) == 1
