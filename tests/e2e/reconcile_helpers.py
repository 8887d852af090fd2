"""Helpers for the `genaiops reconcile` end-to-end tests: a local git repository of manifests, the reconcile
loop as a real child process (`python -m controller reconcile ... --log-format json`) whose JSON log lines
the tests read, a Prometheus scraper, and hand edits made with the real gapic client.

Nothing is mocked: the child talks to the in-process emulator over loopback, fetches the repository with the
git CLI through a `file://` URL, and serves its metrics over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import field_mask_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.canary_helpers import served, wait_until
from tests.e2e.conftest import Workspace
from tests.helpers import child_env

REPO = Path(__file__).resolve().parents[2]
TWO = "[{name: a, model: llm}, {name: b, model: llm}]"


# -- the git repository ----------------------------------------------------------------------------
class GitRepo:
    """A local repository with a `main` branch whose `manifests/` directory the controller reconciles."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifests = root / "manifests"
        self.manifests.mkdir(parents=True)
        self._git("init", "--quiet", "--initial-branch=main")

    @property
    def url(self) -> str:
        """The `file://` URL for `--git-url`."""
        return self.root.as_uri()

    def _git(self, *args: str) -> str:
        command = ["git", "-C", str(self.root), "-c", "user.name=genaiops-test", "-c", "user.email=test@example.com"]
        done = subprocess.run([*command, *args], capture_output=True, text=True, check=True, timeout=30)
        return done.stdout.strip()

    def commit(self, message: str, **files: str) -> str:
        """Replace the manifests with these files (name -> YAML), commit them, return the full SHA."""
        for old in self.manifests.glob("*.yaml"):
            old.unlink()
        for name, text in files.items():
            (self.manifests / f"{name}.yaml").write_text(text, encoding="utf-8")
        self._git("add", "--all")
        self._git("commit", "--quiet", "--allow-empty", "-m", message)
        return self._git("rev-parse", "HEAD")


# -- the reconcile loop as a child process ---------------------------------------------------------
def _child_env() -> dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def reconcile_argv(workspace: Workspace, repo: GitRepo, *extra: str, name: str = "ctl") -> list[str]:
    """`python -m controller reconcile --git-url REPO ... --emulator ADDR`, with its own cache and audit log."""
    return [
        sys.executable,
        "-m",
        "controller",
        "reconcile",
        "--git-url",
        repo.url,
        "--cache-dir",
        str(workspace.root / f"{name}-cache"),
        "--audit-log",
        str(workspace.root / f"{name}-audit.log"),
        "--log-format",
        "json",
        *extra,
        "--emulator",
        workspace.emulator.grpc_target,
    ]


@dataclass
class Controller:
    """A running `genaiops reconcile` child; its stdout and stderr go to `log`."""

    process: subprocess.Popen[bytes]
    log: Path
    audit: Path
    _read: int = 0
    _records: list[dict[str, Any]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Every log line so far, parsed (a line that is not JSON becomes {"message": line, "raw": True})."""
        data = self.log.read_bytes()
        end = data.rfind(b"\n") + 1
        for line in data[self._read : end].decode("utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    self._records.append(json.loads(line))
                except json.JSONDecodeError:
                    self._records.append({"message": line, "raw": True})
        self._read = end
        return list(self._records)

    def messages(self, containing: str = "") -> list[str]:
        """The log messages that contain `containing`."""
        return [str(r.get("message", "")) for r in self.records() if containing in str(r.get("message", ""))]

    def passes(self) -> int:
        """How many passes have finished (one `pass ok|with errors in ...` line each)."""
        return len([m for m in self.messages() if m.startswith(("pass ok in", "pass with errors in"))])

    def wait_for(self, text: str, *, timeout_s: float, count: int = 1) -> dict[str, Any]:
        """The `count`-th log record whose message contains `text` (AssertionError after `timeout_s`)."""

        def found() -> bool:
            if self.process.poll() is not None and len(self.messages(text)) < count:
                raise AssertionError(f"the controller exited ({self.process.returncode}):\n{self.output()}")
            return len(self.messages(text)) >= count

        wait_until(found, timeout_s=timeout_s, what=f"log line {text!r} x{count}", every_s=0.02)
        return [r for r in self.records() if text in str(r.get("message", ""))][count - 1]

    def wait_for_passes(self, more: int, *, timeout_s: float) -> None:
        """Wait until `more` passes beyond those already finished have finished."""
        target = self.passes() + more
        wait_until(lambda: self.passes() >= target, timeout_s=timeout_s, what=f"{more} more passes", every_s=0.02)

    def output(self) -> str:
        """Everything it printed, for assertion messages."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def terminate(self) -> None:
        """Send SIGTERM."""
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL (no cleanup at all)."""
        self.process.send_signal(signal.SIGKILL)

    def wait(self, timeout_s: float) -> int:
        """Its exit code once it has exited."""
        return self.process.wait(timeout=timeout_s)


@contextmanager
def controller(workspace: Workspace, repo: GitRepo, *extra: str, name: str = "ctl") -> Iterator[Controller]:
    """Start `genaiops reconcile --git-url REPO EXTRA...` in the workspace directory; killed on exit if alive."""
    log = workspace.root / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            reconcile_argv(workspace, repo, *extra, name=name),
            cwd=workspace.root,
            env=_child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield Controller(process, log, workspace.root / f"{name}-audit.log")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def reconcile_once(workspace: Workspace, repo: GitRepo, *extra: str, name: str = "once") -> tuple[int, str]:
    """One `genaiops reconcile` pass in a child process: (exit code, output)."""
    done = subprocess.run(
        reconcile_argv(workspace, repo, *extra, name=name),
        cwd=workspace.root,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


# -- live state ------------------------------------------------------------------------------------
def split_by_name(live: Any) -> dict[str, int]:
    """Traffic percent per deployment name (the deployed model's display name), zero shares left out."""
    names = {d.id: d.display_name for d in live.deployed_models}
    return {names.get(k, f"<undeployed {k}>"): v for k, v in live.traffic_split.items() if v > 0}


def served_now(workspace: Workspace, endpoint_id: str = "chat") -> dict[str, int]:
    """Traffic per served model version right now; {} while the endpoint does not exist."""
    from google.api_core.exceptions import NotFound

    try:
        return served(workspace.endpoint(endpoint_id))
    except NotFound:
        return {}


def split_problem(live: Any) -> str | None:
    """Why the endpoint's split is inconsistent: not summing to 100 over deployed models (or not empty)."""
    split = dict(live.traffic_split)
    deployed = {d.id for d in live.deployed_models}
    if set(split) - deployed:
        return f"{live.name}: split {split} names undeployed models (deployed: {sorted(deployed)})"
    total = sum(split.values())
    if deployed and total != 100:
        return f"{live.name}: split {split} sums to {total}"
    if not deployed and split:
        return f"{live.name}: split {split} with nothing deployed"
    return None


def set_traffic_by_hand(workspace: Workspace, shares: dict[str, int], endpoint_id: str = "chat") -> None:
    """What a person does in the console: UpdateEndpoint with a new traffic split (by deployment name)."""
    live = workspace.endpoint(endpoint_id)
    ids = {d.display_name: d.id for d in live.deployed_models}
    live.traffic_split = {ids[name]: percent for name, percent in shares.items()}
    mask = field_mask_pb2.FieldMask(paths=["traffic_split"])
    workspace.emulator.endpoint_client().update_endpoint(endpoint=live, update_mask=mask)


def wait_for_split(
    workspace: Workspace, wanted: dict[str, int], *, timeout_s: float, endpoint_id: str = "chat"
) -> float:
    """Poll GetEndpoint until the split by name is `wanted`; returns the time.monotonic() it was first seen."""
    client = workspace.emulator.endpoint_client()
    name = f"{workspace.emulator.parent}/endpoints/{endpoint_id}"
    seen: list[float] = []

    def matches() -> bool:
        try:
            live = client.get_endpoint(name=name)
        except Exception:  # not created yet
            return False
        if split_by_name(live) == wanted:
            seen.append(time.monotonic())
            return True
        return False

    wait_until(matches, timeout_s=timeout_s, what=f"traffic {wanted} on {endpoint_id}", every_s=0.02)
    return seen[0]


# -- telemetry -------------------------------------------------------------------------------------
def free_port() -> int:
    """A loopback port that was free a moment ago (bind to 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(url: str) -> tuple[int, str]:
    """HTTP GET: (status, body); a refused connection is (0, reason)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8")
    except OSError as err:
        return 0, str(err)


def scrape(base_url: str) -> Samples:
    """Every sample of /metrics: (name, labels) -> value."""
    status, body = get(f"{base_url}/metrics")
    assert status == 200, (status, body)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of one series, or None when it is not exported."""
    return samples.get((name, frozenset(labels.items())))


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every series of one sample name, by labels."""
    return {labels: value for (n, labels), value in samples.items() if n == name}


def wait_for_metrics(base_url: str, predicate: Callable[[Samples], bool], *, timeout_s: float, what: str) -> Samples:
    """Scrape until `predicate` holds; returns that scrape."""
    last: list[Samples] = []

    def check() -> bool:
        status, _ = get(f"{base_url}/metrics")
        if status != 200:
            return False
        last[:] = [scrape(base_url)]
        return predicate(last[0])

    wait_until(check, timeout_s=timeout_s, what=what, every_s=0.1)
    return last[0]


def audit_records(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of an audit log (empty when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class ConsistencyWatcher:
    """Lists every endpoint with its own real gapic client in a thread and records any inconsistent split."""

    def __init__(self, workspace: Workspace, every_s: float = 0.02) -> None:
        self.client = workspace.emulator.endpoint_client()
        self.parent = workspace.emulator.parent
        self.every_s = every_s
        self.looks = 0
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consistency-watcher", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                endpoints = list(self.client.list_endpoints(parent=self.parent))
            except Exception as err:  # reported like an inconsistency: the test must see every state
                self.problems.append(f"{type(err).__name__}: {err}")
            else:
                self.problems += [p for e in endpoints if (p := split_problem(e)) is not None]
                self.looks += 1
            self._stop.wait(self.every_s)

    def __enter__(self) -> ConsistencyWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
