"""Answering previews: what a proposed Configuration would change on this host.

The controller writes a HostPreview into this host's namespace; this module evaluates it and
writes the answer into its status. It is a path of its own, apart from the Assignment
workers, and it cannot change the host, by construction:

- it only ever calls the engine's what-if (``Engine.apply(plan, what_if=True)``), which
  gets and compares, never sets;
- the engine it builds holds look-only providers (``LookOnly``): their set and delete raise,
  so even an engine bug could not make a change;
- the engine has no change observer, so no audit record is written, and nothing is
  journaled: the host's enforced state and its audit chain are exactly as before.

What it shares with a real run is what makes the answer true: the host's own providers (their
get and comparison), the host's policy (a denial is reported as the real run would meet it),
and the Secrets in the host's namespace (a missing one fails as it would). Secrets the
rollout would copy first (``spec.pendingSecrets``) have values unknown here: a property set
from one is reported as changing, its value redacted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from transom.agent.secrets import SecretCache, secret_names
from transom.api.conditions import now_rfc3339
from transom.api.errors import SpecError, from_pydantic
from transom.api.names import host_namespace
from transom.api.preview import (
    MAX_MESSAGE_LENGTH,
    HostPreview,
    HostPreviewStatus,
    PreviewChange,
    PreviewResult,
    expired,
    shown_value,
)
from transom.api.resources import ResourceProperties
from transom.engine.converge import Engine
from transom.engine.policy import HostPolicy
from transom.engine.provider import Change, Context, Provider, SetOutcome, State, WatchTarget
from transom.engine.result import ResourceOutcome, RunReport
from transom.kube.client import NETWORK_ERRORS, ApiError, Kube, Obj
from transom.kube.informer import ADDED, MODIFIED, Informer
from transom.kube.kinds import HOST_PREVIEWS

log = logging.getLogger(__name__)


class PreviewWriteError(RuntimeError):
    """A look-only provider was asked to change something: a defect, never a host change."""


class LookOnly(Provider[ResourceProperties]):
    """A provider's get and comparison, without its set and delete."""

    def __init__(self, inner: Provider[Any]) -> None:
        self._inner = inner
        self.kind = inner.kind  # type: ignore[misc]

    def get(self, desired: ResourceProperties, ctx: Context) -> State:
        return self._inner.get(desired, ctx)

    def set(
        self, desired: ResourceProperties, changes: Mapping[str, Change], ctx: Context
    ) -> SetOutcome:
        raise PreviewWriteError(f"a preview may not change {self.kind} resources")

    def delete(self, desired: ResourceProperties, ctx: Context) -> SetOutcome:
        raise PreviewWriteError(f"a preview may not remove {self.kind} resources")

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        return self._inner.equal(prop, desired, actual)

    def touches(self, desired: ResourceProperties) -> list[str]:
        return self._inner.touches(desired)

    def watch_targets(self, desired: ResourceProperties) -> list[WatchTarget]:
        return []


class LookOnlyProviders(Mapping[str, Provider[Any]]):
    """The host's providers, each wrapped when first used (a platform builds its own lazily)."""

    def __init__(self, providers: Mapping[str, Provider[Any]]) -> None:
        self._providers = providers
        self._wrapped: dict[str, LookOnly] = {}

    def __getitem__(self, kind: str) -> Provider[Any]:
        wrapped = self._wrapped.get(kind)
        if wrapped is None:
            wrapped = self._wrapped[kind] = LookOnly(self._providers[kind])
        return wrapped

    def __iter__(self) -> Any:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._providers


class PreviewSecrets:
    """The host namespace's Secrets as the real run would read them; a copy the rollout has
    not made yet resolves to a value nobody knows (so it never equals the host's)."""

    def __init__(self, cache: SecretCache, pending: Collection[str]) -> None:
        self._cache = cache
        self._pending = set(pending)

    def resolve(self, name: str, key: str) -> bytes:
        if name in self._pending:
            return f"<unknown until copied: {secrets.token_hex(16)}>".encode()
        return self._cache.resolve(name, key)


def evaluate(
    preview: HostPreview,
    providers: Mapping[str, Provider[Any]],
    policy: HostPolicy,
    secret_cache: SecretCache,
) -> HostPreviewStatus:
    """The answer to one HostPreview: a what-if run with look-only providers, no observer."""
    engine = Engine(
        LookOnlyProviders(providers),
        policy=policy,
        secrets=PreviewSecrets(secret_cache, preview.spec.pending_secrets),
    )
    generation = preview.metadata.generation or 1
    try:
        plan = engine.plan(preview.spec.resources, "spec.resources")
    except SpecError as exc:
        return HostPreviewStatus(
            observed_generation=generation,
            answered_at=now_rfc3339(),
            error=f"invalid on this host: {exc}"[:MAX_MESSAGE_LENGTH],
        )
    report = engine.apply(plan, what_if=True)
    return answer(report, generation, providers)


def may_reboot(outcome: ResourceOutcome, providers: Mapping[str, Provider[Any]]) -> bool:
    """A change the OS may answer with "restart needed" (a feature, an MSI, DSC) counts as
    needing one: the OS says so only once the change is made, which a preview never does."""
    provider = providers.get(outcome.kind)
    return outcome.reboot_required or (
        bool(outcome.diff) and provider is not None and provider.may_reboot
    )


def answer(
    report: RunReport, generation: int, providers: Mapping[str, Provider[Any]]
) -> HostPreviewStatus:
    rebooting = [may_reboot(o, providers) for o in report.results]
    results = [
        PreviewResult(
            name=o.name,
            type=o.kind,
            status=o.status.value,
            reason=o.reason,
            message=o.message[:MAX_MESSAGE_LENGTH],
            changes=[
                PreviewChange(
                    property=d.prop, current=shown_value(d.actual), desired=shown_value(d.desired)
                )
                for d in o.diff
            ],
            reboot_required=reboot,
            in_desired_state=o.in_desired_state,
        )
        for o, reboot in zip(report.results, rebooting, strict=True)
    ]
    return HostPreviewStatus(
        observed_generation=generation,
        answered_at=now_rfc3339(),
        results=results,
        reboot_required=any(rebooting),
    )


class PreviewResponder:
    """Watches the host's HostPreviews and answers each once, one at a time."""

    def __init__(
        self,
        kube: Kube,
        host: str,
        *,
        providers: Mapping[str, Provider[Any]],
        policy: HostPolicy,
        timeout_seconds: int = 1800,
        backoff_max_seconds: float = 30.0,
    ) -> None:
        self.kube = kube
        self.namespace = host_namespace(host)
        self.providers = providers
        self.policy = policy
        self.secrets = SecretCache()
        #: Answered (uid, generation): an echo of our own status write is not asked again.
        self.answered: set[tuple[str, int]] = set()
        self._queue: asyncio.Queue[Obj] = asyncio.Queue()
        self.informer = Informer(
            kube,
            HOST_PREVIEWS.path(self.namespace),
            self._on_event,
            optional=True,  # a cluster without previews: nothing to answer
            timeout_seconds=timeout_seconds,
            backoff_max_seconds=backoff_max_seconds,
        )

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.informer.run())
            tg.create_task(self._answer_loop())

    def restart(self) -> None:
        self.informer.restart()

    def _on_event(self, kind: str, obj: Obj) -> None:
        if kind in (ADDED, MODIFIED) and self._key(obj) not in self.answered:
            status = obj.get("status") or {}
            if not status.get("answeredAt"):
                self._queue.put_nowait(obj)

    @staticmethod
    def _key(obj: Obj) -> tuple[str, int]:
        meta = obj.get("metadata") or {}
        return (str(meta.get("uid", "")), int(meta.get("generation") or 1))

    async def _answer_loop(self) -> None:
        while True:
            obj = await self._queue.get()
            key = self._key(obj)
            if key in self.answered:
                continue
            try:
                await self._answer(obj)
                self.answered.add(key)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status == 404:
                    self.answered.add(key)  # deleted meanwhile: nobody waits for it
                else:
                    log.warning("preview %s not answered: %s", obj["metadata"]["name"], exc)
            except NETWORK_ERRORS as exc:
                log.info("preview %s not answered: %s", obj["metadata"]["name"], exc)
            except Exception:
                log.exception("preview %s not answered", obj["metadata"]["name"])
                self.answered.add(key)

    async def _answer(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        try:
            preview = HostPreview.model_validate(obj)
        except ValidationError as exc:
            status = HostPreviewStatus(
                observed_generation=self._key(obj)[1],
                answered_at=now_rfc3339(),
                error=str(SpecError(from_pydantic("spec", exc)))[:MAX_MESSAGE_LENGTH],
            )
        else:
            if expired(preview.spec.expires_at):
                log.info("preview %s expired; not answered", name)
                return
            await self.secrets.refresh(
                self.kube, self.namespace, secret_names(preview.spec.resources)
            )
            status = await asyncio.to_thread(
                evaluate, preview, self.providers, self.policy, self.secrets
            )
        await self.kube.patch(
            HOST_PREVIEWS.path(self.namespace, name, "status"),
            {"status": status.model_dump(mode="json", by_alias=True)},
        )
        log.info(
            "preview %s answered (asked by %s)",
            name,
            (obj.get("spec") or {}).get("requestedBy", ""),
        )
