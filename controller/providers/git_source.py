"""Git source for `genaiops reconcile --git-url`: keeps a local checkout of one branch of a repository and
hands the reconcile loop the manifests directory of the newest commit, with the commit's identity.

It sits at the edge, next to the cloud providers: the loop calls `fetch()` once per pass, then loads the
manifests from `Checkout.manifests` like any local directory. The git CLI does the work (subprocess, no
shell), so whatever authentication git is configured with (SSH keys via GIT_SSH_COMMAND, credential
helpers) works unchanged; git is never allowed to prompt.

The cache holds one working tree per URL. Each fetch force-updates a private ref from the remote branch
(so force-pushes and rewritten history are followed), then checks the commit out detached, forced and
cleaned: local edits or stray files in the cache can never leak into what gets applied. A `Checkout` stays
valid until the next `fetch()`, which rewrites the working tree.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from controller.errors import UserError

_REF = "refs/genaiops/source"
_FIELD_SEPARATOR = "\x1f"
_LOG_FORMAT = _FIELD_SEPARATOR.join(["%H", "%an <%ae>", "%cI", "%s"])


class GitSourceError(UserError):
    """The git source could not produce a checkout; the message says why and includes git's stderr.

    `sha` is set when the commit was fetched but is unusable (the manifests path is missing in it), so the
    loop can report such a commit once rather than on every pass.
    """

    def __init__(self, message: str, *, sha: str | None = None) -> None:
        super().__init__(message)
        self.sha = sha


@dataclass(frozen=True)
class Checkout:
    """One fetched commit: its full SHA, where its manifests are on disk, and who committed what when."""

    sha: str
    manifests: Path
    author: str  # "Name <email>"
    committed_at: str  # committer date, strict ISO 8601 with offset
    subject: str

    @property
    def short_sha(self) -> str:
        """The first 12 hex digits, for messages and labels."""
        return self.sha[:12]


def redact_url(url: str) -> str:
    """The URL without a password or token in its userinfo (https://user:TOKEN@host -> https://user:***@host)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _check_inputs(url: str, branch: str, path: str) -> None:
    if not url or url.startswith("-"):
        raise GitSourceError(f"invalid git URL {url!r}")
    if not branch or branch.startswith("-") or not re.fullmatch(r"[\w./-]+", branch) or ".." in branch:
        raise GitSourceError(f"invalid git branch name {branch!r}")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise GitSourceError(f"the manifests path must be relative to the repository root, got {path!r}")


class GitSource:
    """A branch of a git repository, fetched on demand into `cache_dir`."""

    def __init__(
        self,
        url: str,
        *,
        branch: str = "main",
        path: str = "manifests",
        cache_dir: Path,
        timeout_s: float = 60,
        depth: int | None = 1,
    ) -> None:
        _check_inputs(url, branch, path)
        self.url = url
        self.branch = branch
        self.path = path.strip("/") or "."
        self.cache_dir = Path(cache_dir)
        self.timeout_s = timeout_s
        self.depth = depth
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
        self.workdir = self.cache_dir / f"repo-{digest}"

    def describe(self) -> str:
        """`URL@branch:path` for messages, with any password redacted."""
        return f"{redact_url(self.url)}@{self.branch}:{self.path}"

    def fetch(self) -> Checkout:
        """Fetch the branch, check its newest commit out and return it; GitSourceError when that fails."""
        self._ensure_repository()
        depth = [f"--depth={self.depth}"] if self.depth else []
        self._git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--force",
            *depth,
            "origin",
            f"+refs/heads/{self.branch}:{_REF}",
            action=f"fetch branch {self.branch!r} from {redact_url(self.url)}",
        )
        sha = self._git("rev-parse", "--verify", f"{_REF}^{{commit}}", action="read the fetched commit").strip()
        self._git("checkout", "--quiet", "--force", "--detach", sha, action=f"check out {sha[:12]}")
        self._git("clean", "--quiet", "-ffdx", action="clean the working tree")
        checkout = self._describe_commit(sha)
        if not checkout.manifests.is_dir():
            what = "is not a directory" if checkout.manifests.exists() else "does not exist"
            raise GitSourceError(
                f"path {self.path!r} {what} in commit {sha[:12]} of {self.describe()} ({checkout.subject!r})",
                sha=sha,
            )
        return checkout

    def _describe_commit(self, sha: str) -> Checkout:
        out = self._git("log", "-1", f"--format={_LOG_FORMAT}", sha, action=f"read commit {sha[:12]}")
        full, author, committed_at, subject = out.rstrip("\n").split(_FIELD_SEPARATOR, 3)
        manifests = self.workdir if self.path == "." else self.workdir / self.path
        return Checkout(sha=full, manifests=manifests, author=author, committed_at=committed_at, subject=subject)

    def _ensure_repository(self) -> None:
        """Create the cache repository on first use; start over if a previous attempt left it broken."""
        if (self.workdir / ".git").is_dir():
            try:
                remote = self._git("config", "--get", "remote.origin.url", action="read the cached remote").strip()
            except GitSourceError:
                remote = ""
            if remote == self.url:
                return
            shutil.rmtree(self.workdir)
        elif self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        self._git("init", "--quiet", action="create the cache repository")
        self._git("remote", "add", "origin", self.url, action="configure the remote")

    def _git(self, *args: str, action: str) -> str:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # fail, never hang waiting for a password
            "GIT_ASKPASS": "",
            "LC_ALL": "C",
        }
        command = ["git", "-C", str(self.workdir), "-c", "advice.detachedHead=false", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout_s, env=env, check=False)
        except FileNotFoundError as e:
            raise GitSourceError("git is not installed (or not on PATH): the git source needs the git CLI") from e
        except subprocess.TimeoutExpired as e:
            raise GitSourceError(f"could not {action}: git timed out after {self.timeout_s:g}s") from e
        if done.returncode != 0:
            stderr = done.stderr.strip().replace(self.url, redact_url(self.url))
            raise GitSourceError(f"could not {action}: git exited {done.returncode}: {stderr or '(no output)'}")
        return done.stdout
