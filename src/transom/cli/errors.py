"""What a user sees when a command fails: one or two lines saying what is wrong and what to
do, never a traceback. The dispatcher in `main` is the one place that turns exceptions into
these lines; commands raise `CliError` for failures they can explain better themselves.

Only the standard library is imported here, so `transom --help` stays fast: exception classes
of heavier modules are looked up in ``sys.modules`` (an exception of a module never imported
cannot have been raised).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: A command failed for a reason the user can act on.
EXIT_FAILURE = 1
#: Something this program did not expect (a bug): exit status EX_SOFTWARE from sysexits.h.
EXIT_INTERNAL = 70
#: Interrupted with Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
#: Set to 1 to see the traceback of an unexpected error (as `transom --debug` does).
DEBUG_ENV = "TRANSOM_DEBUG"
#: The most lines of a multi-line cause (a validation error list) shown.
MAX_DETAIL_LINES = 8


class CliError(Exception):
    """A failure a command explains: ``message`` says what is wrong, ``hint`` what to do."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


def _class(module: str, name: str) -> type[BaseException] | None:
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _is(exc: BaseException, module: str, name: str) -> bool:
    cls = _class(module, name)
    return cls is not None and isinstance(exc, cls)


def explain(exc: BaseException) -> CliError | None:
    """The user-facing form of a known failure, or None for one this program did not expect."""
    if isinstance(exc, CliError):
        return exc
    if _is(exc, "transom.api.errors", "SpecError"):
        errors: Sequence[object] = getattr(exc, "errors", ())
        shown = [f"  {e}" for e in errors[:MAX_DETAIL_LINES]]
        if len(errors) > MAX_DETAIL_LINES:
            shown.append(f"  ... and {len(errors) - MAX_DETAIL_LINES} more")
        return CliError("invalid input, nothing was changed:\n" + "\n".join(shown))
    if _is(exc, "transom.kube.client", "ApiError"):
        status = getattr(exc, "status", 0)
        hint = ""
        if status == 401:
            hint = "the credentials in the kubeconfig were not accepted: check its user entry"
        elif status == 403:
            hint = "this identity is not allowed that request: check its RBAC bindings"
        return CliError(f"the API server refused the request: {exc}", hint)
    # Looked up like the others: ssl costs `transom apply` start-up time it never needs.
    if _is(exc, "ssl", "SSLCertVerificationError"):
        # aiohttp's ClientConnectorCertificateError is one of these.
        return CliError(
            f"the server's TLS certificate could not be verified: {cert_reason(exc)}",
            "give the CA bundle that signed it (the cluster's certificate-authority-data)",
        )
    if _is(exc, "aiohttp", "ClientConnectorError") or isinstance(exc, ConnectionError):
        return CliError(
            f"cannot reach the server: {exc}",
            "is it running, and is the address in the kubeconfig or --server right?",
        )
    if isinstance(exc, TimeoutError):
        return CliError(f"timed out{': ' + str(exc) if str(exc) else ''}")
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return CliError(f"{exc.filename}: no such file or directory")
    if isinstance(exc, PermissionError) and exc.filename:
        return CliError(
            f"{exc.filename}: permission denied", "run as a user allowed to use it, or pick another"
        )
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return CliError(f"{where}{exc.strerror}")
    for module, name in (
        ("transom.agent.enroll", "EnrollmentError"),
        ("transom.dev.controlplane", "ControlPlaneError"),
        ("transom.engine.provider", "ProviderError"),
        ("transom.kube.address", "AddressError"),
    ):
        if _is(exc, module, name):
            return CliError(str(exc))
    return None


def cert_reason(exc: BaseException) -> str:
    return str(getattr(exc, "verify_message", "") or getattr(exc, "reason", "") or exc)


def report(exc: BaseException, prog: str = "transom") -> int:
    """Print ``exc`` for a user on stderr and return the exit status."""
    known = explain(exc)
    if known is None:
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"{prog}: unexpected error: {type(exc).__name__}: {first}", file=sys.stderr)
        print(
            f"this is a bug: `{prog} --debug COMMAND ...` (or {DEBUG_ENV}=1) shows the details "
            "to report",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    print(f"{prog}: error: {known.message}", file=sys.stderr)
    if known.hint:
        print(f"  {known.hint}", file=sys.stderr)
    return known.code
