"""Which tests run where: posix only, or not under Wine — always skipped with a named reason.

``@pytest.mark.posix_only("file modes")`` skips on Windows; ``@pytest.mark.wine_lacks("no
PowerShell")`` skips in the Windows lane (Windows CPython under Wine, tools/wine/python.sh sets
TRANSOM_WINE=1) and nowhere else, so a real Windows runner still runs it. Each skip names its
reason, and the end of the run lists the skips grouped by reason, with counts.
"""

from __future__ import annotations

import os
import sys
from collections import Counter

import pytest

ON_WINDOWS = sys.platform == "win32"
UNDER_WINE = ON_WINDOWS and os.environ.get("TRANSOM_WINE") == "1"

MARKERS = (
    "posix_only(reason): needs a posix OS; skipped on Windows with the reason",
    "wine_lacks(reason): needs a Windows API or tool that Wine does not provide; skipped in the"
    " Windows lane (Windows CPython under Wine) with the reason, run on real Windows",
)


def _reason(mark: pytest.Mark) -> str:
    reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "")
    if not reason:
        raise pytest.UsageError(f"@pytest.mark.{mark.name} needs a reason")
    return str(reason)


def skip_reason(item: pytest.Item) -> str | None:
    if ON_WINDOWS:
        for mark in item.iter_markers("posix_only"):
            return f"posix only: {_reason(mark)}"
    if UNDER_WINE:
        for mark in item.iter_markers("wine_lacks"):
            return f"Wine lacks: {_reason(mark)}"
    return None


def summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    xfailed = terminalreporter.stats.get("xfailed", [])
    if not skipped and not xfailed:
        return
    where = "Windows CPython under Wine" if UNDER_WINE else sys.platform
    terminalreporter.section(f"skipped and xfailed by reason ({where})")
    reasons: Counter[str] = Counter()
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[f"skipped: {reason.removeprefix('Skipped: ')}"] += 1
    for report in xfailed:
        reasons[f"xfailed: {getattr(report, 'wasxfail', '')}"] += 1
    for reason, count in sorted(reasons.items(), key=lambda rc: (-rc[1], rc[0])):
        terminalreporter.write_line(f"{count:4d}  {reason}")
