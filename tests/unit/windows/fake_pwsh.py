"""Stands in for powershell.exe, as strict as Windows PowerShell 5.1 where tests rely on it.

Host mode (default): host.ps1's JSON-lines protocol, with a few commands that exercise framing,
errors, the process dying and slowness, and ``Invoke-TransomCommand`` as the removed in-host
command runner behaved on Windows: [PowerShell]::Create().AddScript() swallows ``exit N``
(reads as 0) and sets HadErrors for an error silenced with -ErrorAction SilentlyContinue.

Process mode (``--process``): ``powershell.exe -EncodedCommand <command.ps1>`` with the script
on stdin, as Windows runs it: the exit code is ``exit N``'s N, else a native program's
$LASTEXITCODE, else 1 if the script wrote an error (not a silenced one), else 0. It models a
few statements only: ``exit N``, ``cmd.exe /c exit N``, ``Write-Error 'x' [-ErrorAction
SilentlyContinue]``, ``'text'``, ``$env:NAME``, ``(Get-Location).Path``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

_COMMAND_PS1 = (
    Path(__file__).parents[3] / "src" / "transom" / "providers" / "windows" / "command.ps1"
)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in re.split(r"[;\n]", script) if s.strip()]


def run_process(argv: list[str]) -> int:
    """powershell.exe -EncodedCommand <wrapper>, the script on stdin."""
    wrapper = base64.b64decode(argv[argv.index("-EncodedCommand") + 1]).decode("utf-16-le")
    if wrapper != _COMMAND_PS1.read_text(encoding="utf-8"):
        sys.stderr.write("fake powershell: not the command.ps1 wrapper\n")
        return 99
    script = base64.b64decode(sys.stdin.read()).decode("utf-8")
    last_exit, wrote_error = 0, False
    for statement in _statements(script):
        if m := re.fullmatch(r"exit (-?\d+)", statement, re.I):
            return int(m.group(1))
        if m := re.fullmatch(r"cmd(?:\.exe)? /c exit (\d+)", statement, re.I):
            last_exit = int(m.group(1))
        elif m := re.fullmatch(r"Write-Error '([^']*)'(.*)", statement, re.I):
            if "silentlycontinue" not in m.group(2).lower():
                wrote_error = True
                print(f"Write-Error: {m.group(1)}")
        elif m := re.fullmatch(r"'([^']*)'", statement):
            print(m.group(1))
        elif m := re.fullmatch(r"\$env:(\w+)", statement, re.I):
            print(os.environ.get(m.group(1), ""))
        elif statement == "(Get-Location).Path":
            print(Path.cwd())
        else:
            print(f"fake powershell: cannot model {statement!r}")
            wrote_error = True
    if last_exit:
        return last_exit
    return 1 if wrote_error else 0


#: Set-NetFirewallRule's ByName parameter set (NetSecurity, Server 2016): -DisplayName is the
#: ByDisplayName set's selector, so it cannot go with -Name; a rename is -NewDisplayName.
SET_BY_NAME = {
    "NewDisplayName",
    "Direction",
    "Action",
    "Protocol",
    "LocalPort",
    "RemoteAddress",
    "Program",
    "Profile",
    "Enabled",
    "Description",
}
NEW_PARAMETERS = (SET_BY_NAME - {"NewDisplayName"}) | {"DisplayName"}
AMBIGUOUS = "Parameter set cannot be resolved using the specified named parameters."


def set_firewall_rule(rules: dict[str, dict[str, Any]], args: dict[str, Any]) -> str:
    """Set-TransomFirewallRule over a table of rules; an error message, or ''."""
    if "Rule" in args:
        # The old contract: operations.ps1 splatted the wire names as cmdlet parameters.
        rule = args["Rule"]
        name = rule["name"].lower()
        if name in rules and "displayName" in rule:
            return AMBIGUOUS
        rules.setdefault(name, {"name": rule["name"]}).update(rule)
        return ""
    name, new, change = str(args["Name"]), args["New"], args["Set"]
    if name.lower() in rules:
        if set(change) - SET_BY_NAME:
            return AMBIGUOUS
        if "NewDisplayName" in change:
            rules[name.lower()]["displayName"] = change["NewDisplayName"]
        return ""
    if set(new) - NEW_PARAMETERS:
        return f"A parameter cannot be found that matches {sorted(set(new) - NEW_PARAMETERS)}."
    rules[name.lower()] = {"name": name, "displayName": new.get("DisplayName", name)}
    return ""


def add_script_result(script: str) -> dict[str, Any]:
    """What the removed Invoke-TransomCommand (AddScript in a fresh runspace) reported."""
    had_errors = False
    for statement in _statements(script):
        if re.fullmatch(r"exit (-?\d+)", statement, re.I):
            # The runspace catches ExitException itself: EndInvoke returns normally.
            break
        if re.fullmatch(r"Write-Error .*", statement, re.I):
            # Set even for -ErrorAction SilentlyContinue.
            had_errors = True
    return {"exitCode": 1 if had_errors else 0, "output": ""}


def main() -> None:
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    defined: list[str] = []
    rules: dict[str, dict[str, Any]] = {}
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
        elif what == "Invoke-TransomCommand":
            reply(ok=True, result=add_script_result(str(args.get("Script", ""))))
        elif what == "Set-TransomFirewallRule":
            error = set_firewall_rule(rules, args)
            if error:
                reply(ok=False, error={"message": error, "errorId": "AmbiguousParameterSet"})
            else:
                reply(ok=True, result=None)
        elif what == "Get-TransomFirewallRule":
            reply(ok=True, result=rules.get(str(args.get("Name")).lower()))
        elif what == "defined":
            reply(ok=True, result=defined)
        elif what.startswith("define"):
            defined.append(what)
            reply(ok=True, result=None)
        else:
            reply(ok=False, error={"message": f"unknown {what}", "code": 0})


if __name__ == "__main__":
    if "--process" in sys.argv:
        sys.exit(run_process(sys.argv))
    main()
