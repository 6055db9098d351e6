"""`transom audit verify|show|report`: check a host's audit log, read its trail, and report
every change with who authorized it.

Works on a copied or local log directory. Checkpoints come from a file, from the log's own
store (not a witness: it lives on the same host), or, with ``--host``, from the cluster
through the ``fetch_checkpoints`` function the caller registers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from transom.cli.errors import CliError
from transom.cli.errors import report as show_error
from transom.engine.audit import (
    AuditAction,
    AuditRecord,
    Checkpoint,
    VerifyReport,
    load_checkpoints,
    parse_checkpoints,
    read_records,
    verify,
)
from transom.engine.audit.checkpoint import CHECKPOINTS_FILE
from transom.engine.audit.log import list_segments
from transom.engine.audit.report import (
    RENDERERS,
    ApprovalEntry,
    RowCheck,
    build_rows,
    join_approvals,
    verify_rows,
)

FetchCheckpoints = Callable[[str], Sequence[Checkpoint]]
#: The Approval objects of these Configurations (``namespace/name``) in the cluster.
FetchApprovals = Callable[[set[str]], Sequence[ApprovalEntry]]

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    fetch_checkpoints: FetchCheckpoints | None = None,
    fetch_approvals: FetchApprovals | None = None,
) -> None:
    """Add `audit`; ``fetch_checkpoints(host)`` returns the host's published checkpoints
    (by default read from the Host's status in the cluster of $KUBECONFIG), and
    ``fetch_approvals`` the Approvals of Configurations (by default from that cluster)."""
    fetch_checkpoints = fetch_checkpoints or cluster_checkpoints
    fetch_approvals = fetch_approvals or cluster_approvals
    audit = subparsers.add_parser("audit", help="verify and read a host's audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)

    v = audit_sub.add_parser("verify", help="check the hash chain and signed checkpoints")
    v.add_argument("--log", type=Path, required=True, help="the host's audit log directory")
    source = v.add_mutually_exclusive_group()
    source.add_argument("--checkpoints", type=Path, help="published checkpoints (JSON/JSONL)")
    source.add_argument("--host", help="take the checkpoint from this Host's status")
    v.add_argument("--public-key", type=Path, help="the agent's audit public key (PEM)")
    v.add_argument("--output", choices=("text", "json"), default="text", help="report format")
    v.set_defaults(func=lambda args: _verify(args, fetch_checkpoints))

    s = audit_sub.add_parser("show", help="print audit records")
    s.add_argument("--log", type=Path, required=True, help="the host's audit log directory")
    s.add_argument("--since", type=parse_since, help="RFC 3339 time or age such as 2h, 7d")
    s.add_argument("--intents", action="store_true", help="include write-ahead intents")
    s.add_argument(
        "--output", choices=("text", "json"), default="text", help="one line or one JSON per record"
    )
    s.set_defaults(func=_show)

    r = audit_sub.add_parser(
        "report", help="one row per change on a host, with the commit and identity behind it"
    )
    r.add_argument(
        "--log",
        type=Path,
        action="append",
        required=True,
        help="a host's audit log directory, or a folder of them (repeat for more)",
    )
    r.add_argument("--since", type=parse_since, help="from this RFC 3339 time or age (7d)")
    r.add_argument("--until", type=parse_since, help="up to (not including) this time")
    r.add_argument("--host", help="only this host's changes")
    r.add_argument("--format", choices=sorted(RENDERERS), default="csv", help="output format")
    r.add_argument(
        "--verify",
        action="store_true",
        help="re-verify every row against its host's chain and checkpoints (exit 1 if any fails)",
    )
    r.add_argument(
        "--cluster",
        action="store_true",
        help="also check against the checkpoint each host published in its Host status, "
        "and fill approved_by from the Approvals in the cluster",
    )
    r.set_defaults(func=lambda args: _report(args, fetch_checkpoints, fetch_approvals))


def cluster_checkpoints(host: str) -> Sequence[Checkpoint]:
    """The checkpoint the host's agent published in its Host status: the hub's witness."""
    import asyncio

    from transom.cli.cluster import kube_config
    from transom.kube.client import ApiError, Kube
    from transom.kube.kinds import HOSTS

    async def fetch() -> Sequence[Checkpoint]:
        async with Kube(kube_config(None)) as kube:
            try:
                obj = await kube.get_or_none(HOSTS.path(name=host))
            except ApiError as e:
                raise ValueError(f"reading Host {host}: {e}") from None
        if obj is None:
            raise ValueError(f"no Host named {host!r} in the cluster")
        return parse_checkpoints(obj)

    return asyncio.run(fetch())


def cluster_approvals(configurations: set[str]) -> Sequence[ApprovalEntry]:
    """Every Approval of these Configurations: the gates' own record of who approved what."""
    import asyncio

    from pydantic import ValidationError

    from transom.api.approval import Approval
    from transom.cli.cluster import kube_config
    from transom.kube.client import ApiError, Kube
    from transom.kube.kinds import APPROVALS

    async def fetch() -> Sequence[ApprovalEntry]:
        found = []
        async with Kube(kube_config(None)) as kube:
            for namespace in sorted({c.partition("/")[0] for c in configurations}):
                try:
                    items = (await kube.list(APPROVALS.path(namespace))).get("items") or []
                except ApiError as e:
                    raise ValueError(f"reading Approvals in {namespace}: {e}") from None
                for obj in items:
                    try:
                        spec = Approval.model_validate(obj).spec
                    except ValidationError:
                        continue  # admission checks the schema; an unreadable one approves nothing
                    entry = ApprovalEntry(
                        f"{namespace}/{spec.configuration}",
                        spec.generation,
                        spec.partition,
                        spec.approver,
                        str(obj.get("metadata", {}).get("creationTimestamp") or ""),
                    )
                    if entry.configuration in configurations:
                        found.append(entry)
        return found

    return asyncio.run(fetch())


def parse_since(value: str, now: datetime | None = None) -> datetime:
    match = _DURATION.match(value)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time or age: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _verify(args: argparse.Namespace, fetch: FetchCheckpoints | None) -> int:
    log_dir: Path = args.log
    if not log_dir.is_dir():
        print(f"error: {log_dir} is not a directory", file=sys.stderr)
        return 2
    if args.host and fetch is None:
        print("error: --host needs a cluster connection in this build", file=sys.stderr)
        return 2
    try:
        checkpoints = _checkpoints(args, fetch)
        public_key = args.public_key.read_bytes() if args.public_key else None
        if public_key is None and checkpoints:
            print(
                "note: no --public-key: signatures checked against the key each checkpoint carries",
                file=sys.stderr,
            )
        report = verify(log_dir, checkpoints, public_key)
    except (OSError, ValueError) as exc:  # unreadable checkpoints or key
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:  # no cluster to read the Host from: a set-up error, as above
        show_error(exc)
        return 2
    print(json.dumps(report_json(report), indent=2) if args.output == "json" else _text(report))
    return 0 if report.ok else 1


def _checkpoints(args: argparse.Namespace, fetch: FetchCheckpoints | None) -> Sequence[Checkpoint]:
    if args.host and fetch is not None:
        return fetch(args.host)
    if args.checkpoints:
        return load_checkpoints(args.checkpoints)
    local = args.log / CHECKPOINTS_FILE
    if local.exists():
        print("note: using the log's own checkpoints, which are no witness", file=sys.stderr)
        return load_checkpoints(local)
    return []


def report_json(report: VerifyReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "records": report.records,
        "head": {"sequence": report.head[0], "hash": report.head[1]},
        "checkpoints": report.checkpoints,
        "findings": [
            {
                "kind": f.kind.value,
                "sequence": f.sequence,
                "segment": f.segment,
                "line": f.line,
                "message": f.message,
            }
            for f in report.findings
        ],
        "notes": list(report.notes),
    }


def _text(report: VerifyReport) -> str:
    lines = [
        f"{report.records} records, valid chain up to record {report.head[0]} "
        f"({report.head[1][:16]}), {report.checkpoints} checkpoint(s)"
    ]
    lines += [f"note: {note}" for note in report.notes]
    lines += [f"FAIL {finding}" for finding in report.findings]
    lines.append("OK" if report.ok else "FAILED")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    log_dir: Path = args.log
    if not log_dir.is_dir():
        print(f"error: {log_dir} is not a directory", file=sys.stderr)
        return 2
    since: datetime | None = args.since
    for record in read_records(log_dir):
        if record.action is AuditAction.INTENT and not args.intents:
            continue
        if since is not None and _time(record) < since:
            continue
        print(
            json.dumps(record.to_json(), sort_keys=True) if args.output == "json" else _row(record)
        )
    return 0


def _time(record: AuditRecord) -> datetime:
    return datetime.fromisoformat(record.time.replace("Z", "+00:00"))


def _row(record: AuditRecord) -> str:
    origin = f"{record.configuration}@{record.generation} {record.revision or '-'}"
    error = f" {record.error}" if record.error else ""
    reboot = " reboot" if record.reboot else ""
    return (
        f"{record.time} #{record.seq} {record.action.value} {record.type}/{record.resource} "
        f"{record.result.value}{reboot} [{origin}] {record.identity}{error}"
    )


def log_dirs(paths: Sequence[Path]) -> list[Path]:
    """Each path if it is an audit log directory, else the log directories under it."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise CliError(f"--log {path}: not a directory")
        candidates = (
            [path]
            if list_segments(path)
            else sorted({p.parent for p in path.rglob("audit-*.jsonl")})
        )
        found.extend(d for d in candidates if list_segments(d) and d not in found)
    if not found:
        raise CliError(f"--log: no audit log (audit-*.jsonl) under {', '.join(map(str, paths))}")
    return found


def _report(
    args: argparse.Namespace,
    fetch: FetchCheckpoints | None,
    fetch_approvals: FetchApprovals | None = None,
) -> int:
    try:
        dirs = log_dirs(args.log)
    except CliError as exc:
        show_error(exc)
        return 2
    rows = []
    failed = 0
    for log_dir in dirs:
        records = list(read_records(log_dir))
        if not records:
            continue
        host = records[0].host
        if args.host and host != args.host:
            continue
        local = log_dir / CHECKPOINTS_FILE
        try:
            checkpoints = load_checkpoints(local) if local.exists() else []
        except (OSError, ValueError) as exc:
            print(f"error: {local}: {exc}", file=sys.stderr)
            return 2
        if args.cluster and fetch is not None:
            try:
                checkpoints = [*checkpoints, *fetch(host)]
            except (ValueError, CliError) as exc:
                print(f"error: {host}: {exc}", file=sys.stderr)
                return 2
        host_rows = build_rows(
            records, checkpoints, since=args.since, until=args.until, host=args.host
        )
        if args.verify:
            host_rows = verify_rows(host_rows, verify(log_dir, checkpoints), checkpoints)
            failed += sum(1 for row in host_rows if row.check == RowCheck.FAILED.value)
        rows.extend(host_rows)
    rows.sort(key=lambda row: (row.time, row.host, row.seq))
    if args.cluster and fetch_approvals is not None:
        try:
            approvals = fetch_approvals({row.configuration for row in rows if row.configuration})
        except (ValueError, CliError) as exc:
            print(f"error: approvals: {exc}", file=sys.stderr)
            return 2
        rows = join_approvals(rows, approvals)
    sys.stdout.write(RENDERERS[args.format](rows))
    if args.verify:
        if args.cluster:
            print(
                "note: published checkpoints checked against the key each carries", file=sys.stderr
            )
        else:
            print(
                "note: only the logs' own checkpoints were used, which are no witness "
                "(--cluster adds the published ones)",
                file=sys.stderr,
            )
        if failed:
            print(f"FAILED: {failed} row(s) do not verify", file=sys.stderr)
            return 1
    return 0
