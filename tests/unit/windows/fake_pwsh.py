"""Stands in for powershell.exe running host.ps1: the same JSON-lines protocol, with a few
commands that exercise framing, errors, the process dying and slowness."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def main() -> None:
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    defined: list[str] = []
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        rid = request["id"]
        args: dict[str, Any] = request.get("args") or {}
        what = request.get("command") or request.get("script") or ""

        def reply(rid: int = rid, **body: Any) -> None:
            sys.stdout.write(json.dumps({"id": rid, **body}, ensure_ascii=False) + "\n")
            sys.stdout.flush()

        if what == "echo":
            reply(ok=True, result=args)
        elif what == "pid":
            reply(ok=True, result=os.getpid())
        elif what == "noisy":
            print("WARNING: stray host output")
            print('{"not": "a response"}')
            print(json.dumps({"id": rid - 1, "ok": True, "result": "stale"}))
            reply(ok=True, result="clean")
        elif what == "fail":
            # HRESULT 0x80070005: E_ACCESSDENIED, a wrapped Win32 ERROR_ACCESS_DENIED.
            reply(
                ok=False,
                error={
                    "message": "Access to the path is denied.",
                    "errorId": "UnauthorizedAccess",
                    "code": -2147024891,
                },
            )
        elif what == "die":
            sys.stderr.write("fatal: host crashed\n")
            sys.stderr.flush()
            os._exit(3)
        elif what == "sleep":
            time.sleep(float(args.get("seconds", 10)))
            reply(ok=True, result=None)
        elif what == "defined":
            reply(ok=True, result=defined)
        elif what.startswith("define"):
            defined.append(what)
            reply(ok=True, result=None)
        else:
            reply(ok=False, error={"message": f"unknown {what}", "code": 0})


if __name__ == "__main__":
    main()
