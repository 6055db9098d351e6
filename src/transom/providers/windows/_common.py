"""What every Windows provider shares: the facade, error mapping, secrets, comparisons."""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from transom.api import conditions as c
from transom.api.resources import ResourceProperties, SecretKeyRef
from transom.engine.provider import Context, Provider, ProviderError, Setup
from transom.providers.windows import facade as f
from transom.providers.windows.facade import WindowsApiError, WindowsFacade

P = TypeVar("P", bound=ResourceProperties)

_REASONS = {
    f.ERROR_ACCESS_DENIED: c.ACCESS_DENIED,
    f.ERROR_FILE_NOT_FOUND: c.NOT_FOUND,
    f.ERROR_PATH_NOT_FOUND: c.NOT_FOUND,
    f.ERROR_SERVICE_DOES_NOT_EXIST: c.NOT_FOUND,
    f.ERROR_SERVICE_DISABLED: c.SERVICE_DISABLED,
    f.ERROR_SERVICE_MARKED_FOR_DELETE: c.SERVICE_MARKED_FOR_DELETE,
    f.ERROR_SERVICE_REQUEST_TIMEOUT: c.SERVICE_TIMEOUT,
    f.ERROR_INSTALL_FAILURE: c.INSTALL_FAILED,
    f.ERROR_INSTALL_ALREADY_RUNNING: c.INSTALL_IN_PROGRESS,
    f.E_FAIL: c.POWERSHELL_FAILED,
}
#: What to tell the user for errors whose fix is known.
_HINTS = {
    f.ERROR_DEPENDENT_SERVICES_RUNNING: "stop the services that depend on it first",
    f.ERROR_SHARING_VIOLATION: "another process keeps the file open",
    f.ERROR_FILENAME_EXCED_RANGE: (
        "the path is 260 characters or longer; enable long paths (LongPathsEnabled) or "
        "use a shorter one"
    ),
}


def reason_for(winerror: int) -> str:
    return _REASONS.get(winerror, c.WINDOWS_API_FAILED)


@contextmanager
def os_call(what: str) -> Iterator[None]:
    """Turn a WindowsApiError into a ProviderError that says what we were doing."""
    try:
        yield
    except WindowsApiError as exc:
        hint = _HINTS.get(exc.winerror)
        message = f"{what}: {exc}" + (f" ({hint})" if hint else "")
        raise ProviderError(message, reason_for(exc.winerror)) from exc


class WindowsProvider(Provider[P]):
    """A provider that reaches the OS only through the facade."""

    def __init__(self, os: WindowsFacade) -> None:
        self.os = os

    @classmethod
    def create(cls, setup: Setup) -> Provider[Any]:
        return cls(setup.facade)


def secret_text(ctx: Context, ref: SecretKeyRef) -> str:
    """The value behind a SecretKeyRef, as Windows APIs take passwords (the engine has
    already marked it for redaction)."""
    return ctx.secrets.resolve(ref.name, ref.key).decode("utf-8")


def fold(value: Any) -> Any:
    """Case-folded copy of strings, list items and mapping values (keys too), for names
    Windows compares case-insensitively."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, Mapping):
        return {str(k).casefold(): fold(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [fold(v) for v in value]
    return value


def same_path(a: Any, b: Any) -> bool:
    """Windows paths: case-insensitive, either slash, trailing separator ignored."""
    if not isinstance(a, str) or not isinstance(b, str):
        return bool(a == b)

    def norm(p: str) -> str:
        return p.replace("/", "\\").rstrip("\\").casefold()

    return norm(a) == norm(b)


def subset_equal(desired: Any, actual: Any, insensitive: frozenset[str] = frozenset()) -> bool:
    """Every key desired sets has the same value in actual (keys in ``insensitive``
    compared case-insensitively); actual may carry more, e.g. defaults Windows filled in."""
    if not isinstance(desired, Mapping) or not isinstance(actual, Mapping):
        return bool(desired == actual)
    for key, want in desired.items():
        have = actual.get(key)
        if key in insensitive:
            if fold(want) != fold(have):
                return False
        elif isinstance(want, Mapping):
            if not subset_equal(want, have, insensitive):
                return False
        elif want != have:
            return False
    return True


def download(url: str, sha256: str) -> bytes:
    """Fetch a URL and check its digest before anything uses the bytes."""
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - http(s) only, by schema
        data: bytes = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ProviderError(f"{url}: sha256 is {digest}, expected {sha256}", c.CHECKSUM_MISMATCH)
    return data


def present(exists: bool) -> dict[str, Any]:
    return {"ensure": "present" if exists else "absent"}


def record_state(record: Mapping[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    """State from an object the OS described as a record (None: it does not exist)."""
    if record is None:
        return present(False)
    return {"ensure": "present", **{k: v for k, v in record.items() if k in keys}}


def fields_to_send(
    desired: ResourceProperties, changes: Mapping[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """The desired values to hand the OS: every managed field when the object is created
    (``ensure`` changed), otherwise only the drifted ones."""
    wire = desired.model_dump(mode="json", by_alias=True, exclude_none=True)
    wanted = keys if "ensure" in changes else tuple(changes)
    return {k: wire[k] for k in wanted if k in wire}


def unsupported(props: Mapping[str, Any], names: tuple[str, ...], kind: str) -> None:
    """Refuse posix-only properties instead of silently ignoring them."""
    given = [n for n in names if props.get(n) is not None]
    if given:
        raise ProviderError(
            f"{kind} on windows does not support {', '.join(given)} (posix only)", c.NOT_SUPPORTED
        )
