"""A smart-HTTP Git server on loopback, for Flux's source-controller to fetch from in tests.

Flux's Git client (go-git) speaks smart HTTP only, so requests go to `git http-backend` as a CGI
program behind a small threaded HTTP server. Repositories are bare, under one project root;
commits are made in a working clone beside it and pushed over the filesystem, so the server
itself stays read-only (no receive-pack, no authentication to set up).

    with GitServer() as git:
        repo = git.create_repository("fleet")
        sha = repo.commit({"windows/config.yaml": "..."}, "v1")
        # GitRepository spec.url = repo.url; Flux reports revision repo.revision(sha)
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from transom.dev.signing import SigningKey

log = logging.getLogger(__name__)

BRANCH = "main"

# Commits must not depend on the user's or the machine's git configuration.
_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Transom Tests",
    "GIT_AUTHOR_EMAIL": "tests@transom.dev",
    "GIT_COMMITTER_NAME": "Transom Tests",
    "GIT_COMMITTER_EMAIL": "tests@transom.dev",
}


def _git(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV, **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@dataclass
class Repository:
    """A bare repository served over HTTP, and the working clone that commits to it."""

    name: str
    url: str
    bare: Path
    worktree: Path

    def commit(
        self,
        files: Mapping[str, str | bytes | None],
        message: str = "update",
        *,
        signing_key: SigningKey | None = None,
        author: str | None = None,
    ) -> str:
        """Write `files` (path -> content; None deletes the file), commit everything and push to
        the served branch. Returns the commit SHA, even when nothing changed (empty commit).
        `signing_key` signs the commit (OpenPGP); `author` ("Name <email>") replaces the
        default author."""
        for rel, content in files.items():
            path = self.worktree / rel
            if content is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        _git("add", "--all", cwd=self.worktree)
        sign = signing_key.git_options() if signing_key is not None else []
        who = ["--author", author] if author else []
        _git(
            *sign,
            "commit",
            "--quiet",
            "--allow-empty",
            *who,
            "-m",
            message,
            cwd=self.worktree,
            env=signing_key.env() if signing_key is not None else None,
        )
        _git("push", "--quiet", "origin", BRANCH, cwd=self.worktree)
        return self.head()

    def head(self) -> str:
        return _git("rev-parse", BRANCH, cwd=self.bare)

    def revision(self, sha: str | None = None) -> str:
        """The revision string Flux reports for a commit (`main@sha1:<sha>`); HEAD by default."""
        return f"{BRANCH}@sha1:{sha or self.head()}"


def _parse_cgi_output(out: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Split a CGI response into its status (from the `Status:` header), headers and body."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
    head, _, body = out.partition(sep)
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.split()[0])
        else:
            headers.append((key, value.strip()))
    return status, headers, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    project_root: Path


class _CgiHandler(BaseHTTPRequestHandler):
    """Runs `git http-backend` per request (RFC 3875 CGI, the subset git needs)."""

    server: _Server

    def do_GET(self) -> None:
        self._run_backend(b"")

    def do_POST(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            # go-git sends a Content-Length; chunked bodies only come from large pushes.
            self.send_error(411, "Content-Length required")
            return
        length = int(self.headers.get("Content-Length") or 0)
        self._run_backend(self.rfile.read(length))

    def _run_backend(self, body: bytes) -> None:
        url = urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **_GIT_ENV,
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": self.request_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(url.path),
            "QUERY_STRING": url.query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        for header, var in (
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ):
            if header in self.headers:
                env[var] = self.headers[header]
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        if proc.returncode != 0 and not proc.stdout:
            self.send_error(500, proc.stderr.decode(errors="replace")[:200])
            return
        status, headers, payload = _parse_cgi_output(proc.stdout)
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("git http: " + format, *args)


class GitServer:
    """Serve bare repositories under `workdir` (a temporary directory by default) on
    http://127.0.0.1:<free port>/. Use as a context manager, or call start() and stop()."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._own_workdir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="transom-git-"))
        self.project_root = self.dir / "served"
        self._worktrees = self.dir / "worktrees"
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> GitServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.project_root.mkdir(parents=True, exist_ok=True)
        self._worktrees.mkdir(parents=True, exist_ok=True)
        server = _Server(("127.0.0.1", 0), _CgiHandler)
        server.project_root = self.project_root
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, name="transom-git-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._own_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def create_repository(self, name: str) -> Repository:
        """An empty bare repository `<name>.git` and its working clone; commit to fill it."""
        bare = self.project_root / f"{name}.git"
        worktree = self._worktrees / name
        _git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(bare))
        _git("init", "--quiet", f"--initial-branch={BRANCH}", str(worktree))
        _git("remote", "add", "origin", str(bare), cwd=worktree)
        return Repository(name=name, url=f"{self.url}/{name}.git", bare=bare, worktree=worktree)
