"""`transom preview`: what proposed Configurations would change on each selected host, asked
of the hosts' own agents in what-if mode (docs/preview.md). Exit 0 when nothing would fail,
2 when something would, 1 when the preview itself failed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transom.cli.cluster import add_kubeconfig, kube_config
from transom.cli.errors import CliError

if TYPE_CHECKING:
    from transom.api.preview import Preview
    from transom.cli.preview_report import HostAnswer
    from transom.cli.preview_source import Proposed
    from transom.kube.client import Kube

EXIT_OK, EXIT_ERROR, EXIT_WOULD_FAIL = 0, 1, 2
DEFAULT_NAMESPACE = "default"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
#: How often the Preview is read while the controller takes it up.
POLL_SECONDS = 0.1


def duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 90s, 2m, 1h")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_ = "what proposed Configurations would change on each host, asked of the hosts"
    p = subparsers.add_parser(
        "preview",
        help=help_,
        description=f"{help_}: exit 0 when nothing would fail, {EXIT_WOULD_FAIL} when "
        f"something would, {EXIT_ERROR} when the preview itself failed",
    )
    p.add_argument(
        "-f",
        "--file",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a YAML file with Configurations (repeat for more)",
    )
    p.add_argument(
        "--git-ref", metavar="REF", help="read the files from this Git ref of the current repo"
    )
    p.add_argument(
        "--path",
        metavar="DIR",
        default=".",
        help="with --git-ref: the directory (from the repository's top) to read",
    )
    p.add_argument(
        "--namespace",
        "-n",
        help="namespace of the Configurations (default: their metadata.namespace, else "
        f"{DEFAULT_NAMESPACE})",
    )
    p.add_argument(
        "--timeout",
        type=duration,
        default=120.0,
        metavar="DURATION",
        help="how long to wait for the hosts' answers (e.g. 90s, 2m); hosts that have not "
        "answered by then are listed as unknown",
    )
    p.add_argument(
        "--output",
        "-o",
        choices=("table", "json", "markdown"),
        default="table",
        help="table, json, or markdown for a pull-request comment",
    )
    add_kubeconfig(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from transom.cli import preview_report as report

    proposed = _proposed(args)
    answers = asyncio.run(_ask(args, proposed))
    if args.output == "json":
        print(json.dumps(report.to_json(answers), indent=2))
    elif args.output == "markdown":
        print(report.markdown(answers))
    else:
        print(report.table(answers))
    return EXIT_WOULD_FAIL if report.any_fails(answers) else EXIT_OK


def _proposed(args: argparse.Namespace) -> list[Proposed]:
    from transom.cli import preview_source as source

    if args.git_ref and args.file:
        raise CliError("give either -f FILE... or --git-ref REF --path DIR, not both")
    if args.git_ref:
        proposed = source.from_git(args.git_ref, args.path)
    elif args.file:
        proposed = source.from_files(args.file)
    else:
        raise CliError("nothing to preview: give -f FILE... or --git-ref REF --path DIR")
    if not proposed:
        raise CliError("no Configuration found in the given documents")
    return proposed


def bodies(proposed: Sequence[Proposed], namespace: str | None, user: str, ttl: int) -> list[Any]:
    """One Preview per namespace, validated here so a mistake is named before anything is
    sent."""
    from pydantic import ValidationError

    from transom.api.errors import from_pydantic
    from transom.api.preview import PreviewedConfiguration, PreviewSpec
    from transom.api.wire import API_VERSION

    by_namespace: dict[str, list[PreviewedConfiguration]] = defaultdict(list)
    seen: dict[tuple[str, str], str] = {}
    for p in proposed:
        ns = namespace or p.namespace or DEFAULT_NAMESPACE
        if (ns, p.name) in seen:
            raise CliError(
                f"{p.origin}: Configuration {ns}/{p.name} is also in {seen[(ns, p.name)]}"
            )
        seen[(ns, p.name)] = p.origin
        try:
            proposed_one = PreviewedConfiguration(name=p.name, spec=p.spec)
            proposed_one.configuration_spec()
            by_namespace[ns].append(proposed_one)
        except ValidationError as exc:
            lines = "\n".join(f"  {e}" for e in from_pydantic("spec", exc)[:8])
            raise CliError(f"{p.origin}: Configuration {p.name} is invalid:\n{lines}") from None
    out = []
    for ns, configurations in sorted(by_namespace.items()):
        spec = PreviewSpec(requested_by=user, configurations=configurations, ttl_seconds=ttl)
        out.append(
            {
                "apiVersion": API_VERSION,
                "kind": "Preview",
                "metadata": {"generateName": "preview-", "namespace": ns},
                "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            }
        )
    return out


async def _ask(args: argparse.Namespace, proposed: Sequence[Proposed]) -> list[HostAnswer]:
    from transom.agent.credentials.whoami import who_am_i
    from transom.api.preview import MIN_TTL_SECONDS
    from transom.kube.client import ApiError, Kube
    from transom.kube.kinds import PREVIEWS

    deadline = time.monotonic() + args.timeout
    # Kept past the wait so a slow reader still finds it; the controller deletes it then.
    ttl = max(MIN_TTL_SECONDS, int(args.timeout) * 2)
    async with Kube(kube_config(args.kubeconfig), field_manager="transom-preview") as kube:
        user = (await who_am_i(kube)).username
        created: list[Any] = []
        try:
            for body in bodies(proposed, args.namespace, user, ttl):
                namespace = body["metadata"]["namespace"]
                try:
                    created.append(await kube.create(PREVIEWS.path(namespace), body))
                except ApiError as exc:
                    if exc.status == 404:
                        raise CliError(
                            f"this cluster has no Preview kind (or no namespace {namespace})",
                            "start a controller of this version once: it installs the kind",
                        ) from None
                    raise
            return await collect(kube, created, deadline)
        finally:
            for obj in created:
                meta = obj["metadata"]
                with contextlib.suppress(ApiError):  # it expires anyway
                    await kube.delete(PREVIEWS.path(meta["namespace"], meta["name"]))


async def collect(kube: Kube, created: Sequence[Any], deadline: float) -> list[HostAnswer]:
    """Wait for the controller to ask the hosts, then for their answers until ``deadline``;
    hosts without an answer by then are unknown."""
    from transom.api.names import host_namespace
    from transom.api.preview import LABEL_PREVIEW, PreviewHostState, preview_label
    from transom.cli import preview_report as report

    answers: list[HostAnswer] = []
    waiting: dict[tuple[str, str], tuple[str, str]] = {}  # (host ns, name) -> (host, conf)
    labels = []
    for obj in created:
        preview = await _dispatched(kube, obj, deadline)
        meta = obj["metadata"]
        labels.append(preview_label(meta["namespace"], meta["name"]))
        for h in preview.status.hosts:
            if h.state is PreviewHostState.OFFLINE:
                answers.append(report.unknown(h.host, h.configuration, report.OFFLINE))
            elif h.state is PreviewHostState.FAILED:
                answers.append(
                    report.failed_before_asked(h.host, h.configuration, h.reason, h.message)
                )
            else:
                waiting[(host_namespace(h.host), h.host_preview)] = (h.host, h.configuration)
    selector = f"{LABEL_PREVIEW} in ({','.join(labels)})"
    answered = await _answers(kube, selector, set(waiting), deadline)
    for key, (host, conf) in sorted(waiting.items()):
        status = answered.get(key)
        if status is None:
            answers.append(report.unknown(host, conf, report.NO_ANSWER))
        else:
            answers.append(report.from_status(host, conf, status))
    return answers


async def _dispatched(kube: Kube, obj: Any, deadline: float) -> Preview:
    from transom.api import conditions as c
    from transom.api.preview import Preview
    from transom.kube.kinds import PREVIEWS

    meta = obj["metadata"]
    path = PREVIEWS.path(meta["namespace"], meta["name"])
    while True:
        preview = Preview.model_validate(await kube.get(path))
        if preview.status.observed_generation == (preview.metadata.generation or 1):
            ready = c.find_condition(preview.status.conditions, c.READY)
            if ready is not None and ready.status == "False":
                raise CliError(f"preview {meta['namespace']}/{meta['name']}: {ready.message}")
            return preview
        if time.monotonic() > deadline:
            raise CliError(
                f"the controller did not take up preview {meta['namespace']}/{meta['name']} "
                "in time",
                "is `transom controller run` running, and of this version?",
            )
        await asyncio.sleep(POLL_SECONDS)


async def _answers(
    kube: Kube, selector: str, wanted: set[tuple[str, str]], deadline: float
) -> dict[tuple[str, str], Any]:
    """The answered HostPreviews' statuses, from one list and a watch across namespaces."""
    from pydantic import ValidationError

    from transom.api.preview import HostPreview
    from transom.kube.kinds import HOST_PREVIEWS

    got: dict[tuple[str, str], Any] = {}

    def take(obj: Any) -> None:
        meta = obj.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if key not in wanted:
            return
        try:
            hp = HostPreview.model_validate(obj)
        except ValidationError:
            return
        if hp.answered():
            got[key] = hp.status

    async def relist() -> str:
        listed = await kube.list(HOST_PREVIEWS.path(), labelSelector=selector)
        for item in listed.get("items") or []:
            take(item)
        return str(listed["metadata"]["resourceVersion"])

    rv = await relist()

    async def follow() -> None:
        nonlocal rv
        while len(got) < len(wanted):
            left = max(1, int(deadline - time.monotonic()) + 1)
            async for event in kube.watch(
                HOST_PREVIEWS.path(),
                resource_version=rv,
                label_selector=selector,
                timeout_seconds=left,
            ):
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    rv = await relist()  # resource version too old: list again
                    break
                rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                if event.get("type") in ("ADDED", "MODIFIED"):
                    take(obj)
                if len(got) >= len(wanted):
                    return

    remaining = deadline - time.monotonic()
    if len(got) < len(wanted) and remaining > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(follow(), remaining)
    return got
