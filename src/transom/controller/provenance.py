"""Who authorized a Configuration generation: read from Flux, Git and the apiserver.

- Flux: the Kustomization that applied the Configuration (its ``serviceAccountName`` and
  ``reconcile.fluxcd.io/requestedAt``) and its GitRepository: whether
  source-controller verified the commit (``spec.verify``, the ``SourceVerified`` condition
  naming the commit and key, ``status.sourceVerificationMode``).
- Git: the commit object itself, fetched from the GitRepository's URL and accepted only if
  its SHA-1 is the commit the revision names, so author, committer, dates and signature key
  are the commit's own, not anything a user wrote next to it. (source-controller's artifact
  is a tarball without ``.git``, and its status keeps no author.)
- The apiserver: ``managedFields`` of the Configuration: which field manager wrote its spec.

Read once per generation and remembered (recovered from the Assignments after a restart),
so later commits or a GitRepository that moved on never relabel a generation already out.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from transom.api import names
from transom.api.provenance import FLUX_FIELD_MANAGER, Provenance, Verification
from transom.controller.cache import Cache
from transom.kube.client import ApiError, Kube, Obj
from transom.kube.kinds import GIT_REPOSITORIES

log = logging.getLogger(__name__)

SOURCE_VERIFIED = "SourceVerified"
#: source-controller's message on success: "verified signature of\n\t- commit 'SHA' with key 'ID'"
_VERIFIED_COMMIT = re.compile(r"commit '([0-9a-f]{40,64})' with key '([^']+)'")
_REVISION_SHA = re.compile(r"(?:^|[@:/])(?:sha1:|sha256:)?([0-9a-f]{40}|[0-9a-f]{64})$")
#: Fetching one commit must not hold a reconcile up for long.
FETCH_TIMEOUT_SECONDS = 10.0


def commit_of(revision: str) -> str:
    """The commit SHA in a Flux revision (``main@sha1:<sha>``, ``sha1:<sha>``, ``main/<sha>``)."""
    m = _REVISION_SHA.search(revision)
    return m.group(1) if m else ""


# -- managedFields --------------------------------------------------------------------------


@dataclass(frozen=True)
class Writer:
    manager: str
    operation: str
    time: str
    #: Every manager owning a spec field is kustomize-controller's server-side apply.
    flux_only: bool


def spec_writer(obj: Obj) -> Writer:
    """The field manager that last wrote the object's spec, from ``managedFields``. On a time
    tie a manager other than Flux's is named, so an edit is never hidden behind Flux."""
    owners = [
        e
        for e in (obj["metadata"].get("managedFields") or [])
        if not e.get("subresource") and "f:spec" in (e.get("fieldsV1") or {})
    ]
    if not owners:
        return Writer("", "", "", flux_only=False)

    def order(e: dict[str, Any]) -> tuple[str, bool]:
        return (str(e.get("time") or ""), e.get("manager") != FLUX_FIELD_MANAGER)

    last = max(owners, key=order)
    flux_only = all(
        e.get("manager") == FLUX_FIELD_MANAGER and e.get("operation") == "Apply" for e in owners
    )
    return Writer(
        str(last.get("manager") or ""),
        str(last.get("operation") or ""),
        str(last.get("time") or ""),
        flux_only,
    )


# -- source-controller's verdict --------------------------------------------------------------


def verification_of(repo: Obj, commit: str) -> tuple[Verification, str, str, str]:
    """(verdict, key ID, mode, message) for ``commit`` from a GitRepository's status."""
    spec, status = repo.get("spec") or {}, repo.get("status") or {}
    mode = str(status.get("sourceVerificationMode") or "")
    if not (spec.get("verify") or {}).get("mode"):
        return Verification.NOT_CONFIGURED, "", mode, ""
    cond = next(
        (c for c in status.get("conditions") or [] if c.get("type") == SOURCE_VERIFIED), None
    )
    if cond is None:
        return Verification.UNKNOWN, "", mode, "no SourceVerified condition yet"
    message = str(cond.get("message") or "")
    if cond.get("status") != "True":
        return Verification.FAILED, "", mode, message
    m = _VERIFIED_COMMIT.search(message)
    if m is None or m.group(1) != commit:
        return Verification.UNKNOWN, "", mode, f"Flux now reports another commit: {message}"
    return Verification.VERIFIED, m.group(2), mode, message


# -- the commit object ----------------------------------------------------------------------


@dataclass(frozen=True)
class CommitFacts:
    author: str
    author_time: str
    committer: str
    commit_time: str
    signing_key: str


def _rfc3339(seconds: int, offset: int) -> str:
    zone = dt.timezone(dt.timedelta(seconds=offset))
    return dt.datetime.fromtimestamp(seconds, zone).isoformat()


def _dearmor(armored: str) -> bytes:
    body: list[str] = []
    in_body = False
    for line in armored.strip().splitlines():
        if line.startswith("-----BEGIN"):
            in_body = False
            continue
        if line.startswith("-----END"):
            break
        if not in_body:
            in_body = line.strip() == ""  # headers end at the first empty line
            continue
        if line.startswith("="):  # the CRC24 line
            break
        body.append(line.strip())
    return base64.b64decode("".join(body))


def signature_issuer(armored: str) -> str:
    """The issuer of an OpenPGP v4 signature: its fingerprint (subpacket 33) or key ID
    (subpacket 16), upper-case hex; "" when the signature is not OpenPGP or unreadable. Only
    read, not verified: source-controller verified it (see ``verification_of``)."""
    try:
        data = _dearmor(armored)
        tag = data[0]
        if not tag & 0x80:
            return ""
        if tag & 0x40:  # new packet format
            first = data[1]
            start = 2 if first < 192 else 3 if first < 224 else 6
        else:
            start = 1 + {0: 1, 1: 2, 2: 4}.get(tag & 0x03, 0)
        packet = data[start:]
        if packet[0] != 4:
            return ""
        hashed_len = int.from_bytes(packet[4:6], "big")
        hashed = packet[6 : 6 + hashed_len]
        rest = packet[6 + hashed_len :]
        unhashed = rest[2 : 2 + int.from_bytes(rest[0:2], "big")]
        found = ""
        for area in (hashed, unhashed):
            i = 0
            while i < len(area):
                length, i = _subpacket_length(area, i)
                kind, value = area[i] & 0x7F, area[i + 1 : i + length]
                if kind == 33 and value:
                    return value[1:].hex().upper()
                if kind == 16 and not found:
                    found = value.hex().upper()
                i += length
        return found
    except (IndexError, ValueError):
        return ""


def _subpacket_length(area: bytes, i: int) -> tuple[int, int]:
    first = area[i]
    if first < 192:
        return first, i + 1
    if first < 255:
        return ((first - 192) << 8) + area[i + 1] + 192, i + 2
    return int.from_bytes(area[i + 1 : i + 5], "big"), i + 5


def commit_facts(raw: bytes, sha: str) -> CommitFacts:
    """Parse a raw commit object, after checking it hashes to ``sha`` (ValueError if not)."""
    digest = hashlib.sha1(b"commit %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()
    if digest != sha:
        raise ValueError(f"the commit object fetched hashes to {digest}, not {sha}")
    header = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    fields: dict[str, str] = {}
    signature: list[str] = []
    current = ""
    for line in header.split("\n"):
        if line.startswith(" ") and current == "gpgsig":
            signature.append(line[1:])
            continue
        current, _, value = line.partition(" ")
        if current == "gpgsig":
            signature.append(value)
        else:
            fields.setdefault(current, value)

    def person(value: str) -> tuple[str, str]:
        m = re.match(r"^(.*) (\d+) ([+-])(\d\d)(\d\d)$", value)
        if m is None:
            return value, ""
        offset = (int(m.group(4)) * 3600 + int(m.group(5)) * 60) * (-1 if m.group(3) == "-" else 1)
        return m.group(1), _rfc3339(int(m.group(2)), offset)

    author, author_time = person(fields.get("author", ""))
    committer, commit_time = person(fields.get("committer", ""))
    key = signature_issuer("\n".join(signature)) if signature else ""
    return CommitFacts(author, author_time, committer, commit_time, key)


def fetch_commit(url: str, sha: str) -> bytes:
    """The raw commit object ``sha`` from a Git smart-HTTP(S) URL (depth 1, no credentials).
    Blocking: run in a thread."""
    from dulwich.client import HttpGitClient  # noqa: PLC0415  (only this path needs it)
    from dulwich.objects import ObjectID  # noqa: PLC0415
    from dulwich.repo import MemoryRepo  # noqa: PLC0415

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http(s) Git URLs are fetched, not {url.split(':', 1)[0]}")
    client = HttpGitClient(url)
    target = MemoryRepo()
    want = ObjectID(sha.encode())

    def wants(refs: Mapping[Any, ObjectID], depth: int | None = None) -> list[ObjectID]:
        return [want]  # protocol v2 serves any reachable commit, advertised or not

    client.fetch("", target, determine_wants=wants, depth=1)
    obj = target.object_store[want]
    return bytes(obj.as_raw_string())


# -- the reader -----------------------------------------------------------------------------


Fetch = Callable[[str, str], bytes]


class ProvenanceReader:
    """``read`` a generation's provenance once; ``remember`` one recovered from an Assignment."""

    def __init__(self, kube: Kube, cache: Cache, *, fetch: Fetch = fetch_commit) -> None:
        self.kube = kube
        self.cache = cache
        self.fetch = fetch
        self._known: dict[tuple[str, int], Provenance] = {}
        self._commits: dict[tuple[str, str], CommitFacts] = {}

    def keep(self, uids: set[str]) -> None:
        """Forget the generations of Configurations no longer there."""
        self._known = {k: v for k, v in self._known.items() if k[0] in uids}

    async def read(self, conf: Obj, generation: int, revision: str) -> Provenance:
        meta = conf["metadata"]
        key = (str(meta.get("uid", "")), generation)
        known = self._known.get(key) or self._recovered(conf, generation)
        if known is not None:
            self._known[key] = known
            return known
        provenance = await self._read(conf, revision)
        if revision or not provenance.git_repository:
            # Without a revision yet (the Kustomization's status lags), read again next time.
            self._known[key] = provenance
        return provenance

    def _recovered(self, conf: Obj, generation: int) -> Provenance | None:
        meta = conf["metadata"]
        label = names.configuration_label(meta["namespace"], meta["name"])
        for _, obj in self.cache.assignments_labelled(label):
            source = (obj.get("spec") or {}).get("source") or {}
            if source.get("generation") == generation and source.get("provenance"):
                try:
                    return Provenance.model_validate(source["provenance"])
                except ValidationError:
                    return None
        return None

    async def _read(self, conf: Obj, revision: str) -> Provenance:
        writer = spec_writer(conf)
        fields: dict[str, Any] = {
            "writer": writer.manager,
            "writer_operation": writer.operation,
            "write_time": writer.time,
        }
        ks = self.cache.kustomization_of(conf)
        labelled = names.FLUX_KUSTOMIZATION_NAME in (conf["metadata"].get("labels") or {})
        if ks is None:
            return Provenance(**fields)
        ks_spec = ks.get("spec") or {}
        fields["service_account"] = str(ks_spec.get("serviceAccountName") or "")
        annotations = ks["metadata"].get("annotations") or {}
        fields["requested_at"] = str(annotations.get(names.FLUX_RECONCILE_REQUESTED) or "")
        # Not the inventory: kustomize-controller writes it after the apply, so a new object is
        # not in it yet when this controller first sees it.
        fields["flux_applied"] = writer.flux_only and labelled
        commit = commit_of(revision)
        fields["commit"] = commit
        ref = ks_spec.get("sourceRef") or {}
        if ref.get("kind") != "GitRepository":
            return Provenance(**fields)
        namespace = str(ref.get("namespace") or ks["metadata"]["namespace"])
        fields["git_repository"] = f"{namespace}/{ref.get('name')}"
        try:
            repo = await self.kube.get_or_none(GIT_REPOSITORIES.path(namespace, ref.get("name")))
        except ApiError as e:
            log.warning("GitRepository %s unreadable: %s", fields["git_repository"], e)
            repo = None
        if repo is None:
            return Provenance(**fields)
        verdict, key_id, mode, message = verification_of(repo, commit)
        fields.update(
            verification=verdict,
            verified_key=key_id,
            verification_mode=mode,
            verification_message=message[:1024],
        )
        if commit:
            facts = await self._commit(repo, commit)
            if isinstance(facts, str):
                fields["commit_error"] = facts[:512]
            else:
                fields.update(
                    author=facts.author,
                    author_time=facts.author_time,
                    committer=facts.committer,
                    commit_time=facts.commit_time,
                    signing_key=facts.signing_key,
                )
        return Provenance(**fields)

    async def _commit(self, repo: Obj, sha: str) -> CommitFacts | str:
        spec = repo.get("spec") or {}
        url = str(spec.get("url") or "")
        cached = self._commits.get((url, sha))
        if cached is not None:
            return cached
        if spec.get("secretRef"):
            # The controller reads no Git credentials: it would have to hold every repo's.
            return "the GitRepository needs credentials; the controller fetches anonymously only"
        try:
            raw = await asyncio.wait_for(
                asyncio.to_thread(self.fetch, url, sha), FETCH_TIMEOUT_SECONDS
            )
            facts = commit_facts(raw, sha)
        except Exception as e:  # recorded in the provenance, never fatal to the rollout
            problem = f"commit {sha[:12]} not read from {url}: {type(e).__name__}: {e}"
            log.warning("%s", problem)
            return problem
        if len(self._commits) > 1024:
            self._commits.clear()
        self._commits[(url, sha)] = facts
        return facts
