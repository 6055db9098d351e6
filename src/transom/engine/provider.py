"""The provider contract: a resource type's get, set and delete. Test and what-if are the
engine's.

A provider reports the current state of exactly the properties a desired resource sets, in the
wire (camelCase) shape of that resource's model, and changes only the properties the engine
found drifted. Providers never decide whether something is in the desired state: the engine
does, once, by comparing (see diff.py), so test, what-if and apply cannot disagree.

Two rules keep get small: when the object does not exist, get returns only
``{"ensure": "absent"}`` and set, seeing ``ensure`` among the changes, creates the object with
every desired property; and a property get leaves out is an option that steers set or delete
(e.g. ``recurseDelete``), not state, so it is never compared. Removal is its own operation, as
in DSC v3: the engine calls delete, never set, when a resource should be absent and is not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from transom.api.conditions import PROVIDER_FAILED
from transom.api.resources import ResourceProperties
from transom.engine.atomicfile import DirectorySyncs

P = TypeVar("P", bound=ResourceProperties)

#: State of a resource as a provider sees it: property wire name -> value.
#: ``{"ensure": "absent"}`` when the object does not exist.
State = dict[str, Any]


class SecretResolver(Protocol):
    """Gives a provider the value behind a SecretKeyRef. The engine marks every value it
    returns as secret, so it is redacted wherever results, logs or audit records show it."""

    def resolve(self, name: str, key: str) -> bytes: ...


@dataclass(frozen=True)
class WatchTarget:
    """Something the OS can notify us about when it changes (see drift.py)."""

    #: "file" | "directory" | "tree" (a directory and all below it) | "registry" | "service"
    kind: str
    path: str


@dataclass(frozen=True)
class Change:
    """One drifted property: what it is and what it must become."""

    prop: str
    actual: Any
    desired: Any


@dataclass(frozen=True)
class SetOutcome:
    reboot_required: bool = False
    message: str = ""


@dataclass(frozen=True)
class Setup:
    """What a platform's providers are built with (see ``Provider.create``)."""

    #: Where downloads (archives) are kept across runs; None: the facade's protected staging
    #: directory (Windows), else the user's or root's cache (posix download.default_cache_dir).
    cache_dir: str | None = None
    #: The platform's OS interface, for providers that reach the OS through one (Windows:
    #: a ``WindowsFacade``).
    facade: Any = None


@dataclass
class Context:
    """What a provider may use besides its own resource."""

    secrets: SecretResolver
    #: Free-form per-run values providers may cache in (e.g. a PowerShell host).
    cache: dict[str, Any] = field(default_factory=dict)
    #: Where a provider's atomic writes leave their directory fsyncs for the engine to make
    #: once per directory (see atomicfile); None: each write syncs its directory itself.
    syncs: DirectorySyncs | None = None


class ProviderError(Exception):
    """A provider could not get or set; ``reason`` is a CamelCase constant."""

    def __init__(self, message: str, reason: str = PROVIDER_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


class Provider(ABC, Generic[P]):
    #: The resource type this provider implements, e.g. ``File``.
    kind: ClassVar[str]
    #: A change may need a reboot, which the OS says only once the change is made (a feature
    #: install, an MSI, a DSC resource): what-if can say "may", never "will not".
    may_reboot: ClassVar[bool] = False

    @classmethod
    def create(cls, setup: Setup) -> Provider[Any]:
        """The provider a platform's agent uses (transom.providers.providers_for builds every
        one this way); override when the constructor takes part of ``setup``."""
        return cls()

    @abstractmethod
    def get(self, desired: P, ctx: Context) -> State:
        """Current state of the properties ``desired`` sets (and ``ensure``)."""

    @abstractmethod
    def set(self, desired: P, changes: Mapping[str, Change], ctx: Context) -> SetOutcome:
        """Change only what ``changes`` lists (``desired.ensure`` is always present here). Must
        be atomic per resource: on failure the object is left as it was or fully as desired,
        never torn."""

    def delete(self, desired: P, ctx: Context) -> SetOutcome:
        """Remove the object ``desired`` names (its ensure is absent and get found it). Types
        with no absent state (their model's ``removable`` is false) keep this default."""
        raise ProviderError(f"{self.kind} resources cannot be removed")

    def equal(self, prop: str, desired: Any, actual: Any) -> bool:
        """Whether an actual value satisfies a desired one; override for normalisation
        (case-insensitive names, equivalent encodings, ...)."""
        return bool(desired == actual)

    def touches(self, desired: P) -> list[str]:
        """Host objects this provider will touch for ``desired``, as identities (``path:...``);
        host policy checks each. Override when the platform adds one the model cannot know,
        e.g. a default file."""
        return desired.touches()

    def watch_targets(self, desired: P) -> list[WatchTarget]:
        """OS objects whose change notifications should trigger a check of this resource."""
        return []
