"""Helpers for the canary end-to-end tests: rollout manifests with short intervals, a watcher that records
every traffic split the real gapic client sees, a webhook receiver, the audit log, and `genaiops apply`
in a child process (so it can be killed with SIGKILL).

Everything talks to the emulator over loopback through the real Google clients; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml
from tests.helpers import child_env

REPO = Path(__file__).resolve().parents[2]
LABEL = "genaiops-ro-"
INTERVAL_S = 1.0
HEALTHY_V1 = "gs://emulator-models/llm/v1"
HEALTHY_V2 = "gs://emulator-models/llm/v2"
ERRORING = "gs://emulator-models/llm/v2?error_rate=0.5"
SLOW = "gs://emulator-models/llm/v2?latency_ms=900&latency_jitter_ms=20"
TWO_STEPS = "[{weight: 20, pause: 2s}, {weight: 50, pause: 2s}]"
METRICS = "[{name: error-rate, max: 0.05}, {name: latency-p99, maxMs: 300}]"
TRAFFIC = {"traffic_rps": 100, "traffic_tick_s": 0.2, "min_alignment_period_s": 1}


def canary_yaml(*, steps: str = TWO_STEPS, metrics: str = METRICS, limits: str = "") -> str:
    """The `chat` Endpoint with a canary rollout: 1 s analysis interval, 1 s initial delay, minRequests 5.

    `limits` adds analysis settings, e.g. `inconclusiveLimit: 2` (one `key: value` per line)."""
    extra_lines = "".join(f"      {line.strip()}\n" for line in limits.splitlines() if line.strip())
    rollout = (
        "  rollout:\n"
        "    strategy: canary\n"
        f"    steps: {steps}\n"
        "    analysis:\n"
        "      interval: 1s\n"
        "      initialDelay: 1s\n"
        "      minRequests: 5\n"
        f"{extra_lines}"
        f"      metrics: {metrics}\n"
    )
    return endpoint_yaml(extra=rollout)


def write_version(workspace: Workspace, artifact: str, **endpoint: str) -> None:
    """Manifests: the `llm` model at `artifact` served by the canary `chat` endpoint."""
    workspace.write(models=model_yaml(artifact=artifact), endpoints=canary_yaml(**endpoint))


def rollout_labels(live: Any) -> dict[str, str]:
    """The rollout record on a live endpoint, without the prefix (`phase`, `step`, `canary`, ...)."""
    return {k.removeprefix(LABEL): v for k, v in live.labels.items() if k.startswith(LABEL)}


def served(live: Any) -> dict[str, int]:
    """Traffic percent per served model version, e.g. {"1": 80, "2": 20}."""
    version = {d.id: d.model_version_id for d in live.deployed_models}
    return {version.get(k, f"<undeployed {k}>"): v for k, v in live.traffic_split.items() if v > 0}


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str, every_s: float = 0.05) -> None:
    """Poll `predicate` until it holds; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


# -- traffic splits ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """One GetEndpoint seen by the watcher: `sent` when it was called, `at` when its answer arrived."""

    sent: float
    at: float
    split: dict[str, int]
    deployed: frozenset[str]
    labels: dict[str, str]
    versions: dict[str, int]  # served model version -> percent

    def problem(self) -> str | None:
        """Why this split is unsafe (does not sum to 100, or names a model that is not deployed)."""
        if sum(self.split.values()) != 100:
            return f"split {self.split} sums to {sum(self.split.values())}"
        strangers = set(self.split) - self.deployed
        if strangers:
            return f"split {self.split} names undeployed {sorted(strangers)} (deployed: {sorted(self.deployed)})"
        return None


class SplitWatcher:
    """Polls GetEndpoint with its own real gapic client in a thread and records every split it sees."""

    def __init__(self, workspace: Workspace, endpoint_id: str = "chat", every_s: float = 0.01) -> None:
        self.client = workspace.emulator.endpoint_client()
        self.name = f"{workspace.emulator.parent}/endpoints/{endpoint_id}"
        self.every_s = every_s
        self.seen: list[Observation] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="split-watcher", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sent = time.time()
            try:
                live = self.client.get_endpoint(name=self.name)
            except Exception as err:  # recorded, and reported by assert_every_split_safe
                self.errors.append(f"{type(err).__name__}: {err}")
                self._stop.wait(self.every_s)
                continue
            self.seen.append(
                Observation(
                    sent,
                    time.time(),
                    dict(live.traffic_split),
                    frozenset(d.id for d in live.deployed_models),
                    rollout_labels(live),
                    served(live),
                )
            )
            self._stop.wait(self.every_s)

    def __enter__(self) -> SplitWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.settle()
        self._stop.set()
        self._thread.join(timeout=5)

    def settle(self, timeout_s: float = 5.0) -> None:
        """Wait until the watcher has seen the endpoint as it is now (a GetEndpoint sent after this call)."""
        now = time.time()
        wait_until(
            lambda: (bool(self.seen) and self.seen[-1].sent > now) or not self._thread.is_alive(),
            timeout_s=timeout_s,
            what="the split watcher to catch up",
            every_s=0.005,
        )

    def assert_every_split_safe(self, *, at_least: int = 20) -> None:
        """Every observed split sums to 100 and names only deployed models."""
        assert len(self.seen) >= at_least, f"the watcher saw only {len(self.seen)} splits"
        assert not self.errors, self.errors[:3]
        problems = [p for o in self.seen if (p := o.problem()) is not None]
        assert not problems, problems[:5]

    def distinct_versions(self) -> list[dict[str, int]]:
        """Traffic per served model version, in the order it appeared, consecutive repeats dropped."""
        out: list[dict[str, int]] = []
        for observation in self.seen:
            if not out or out[-1] != observation.versions:
                out.append(observation.versions)
        return out

    def first_time(self, predicate: Callable[[Observation], bool]) -> float | None:
        """When the watcher first saw an observation matching `predicate`."""
        return next((o.at for o in self.seen if predicate(o)), None)


# -- audit log and webhook --------------------------------------------------------------------------
def audit_records(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of an audit log (empty when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rollout_events(path: Path, *kinds: str) -> list[dict[str, Any]]:
    """The `rollout-*` records of an audit log, optionally only these kinds (`step`, `promoted`, ...)."""
    wanted = {f"rollout-{k}" for k in kinds}
    return [
        r
        for r in audit_records(path)
        if str(r.get("event", "")).startswith("rollout-") and (not kinds or r["event"] in wanted)
    ]


def failed_measurements(path: Path) -> list[dict[str, Any]]:
    """The `rollout-measured` records in which at least one metric failed."""
    return [
        r for r in rollout_events(path, "measured") if any(m["verdict"] == "failed" for m in r.get("measurements", []))
    ]


class WebhookReceiver:
    """An HTTP server on 127.0.0.1:0 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook", daemon=True)

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def kinds(self) -> list[str]:
        """The event names received, in order (`rollout-started`, ...)."""
        return [str(b.get("event")) for b in self.bodies]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


# -- a real child process ---------------------------------------------------------------------------
@dataclass
class ChildApply:
    """A `genaiops apply` running in a child process, and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """What it has printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout_s: float) -> int:
        """Its exit code, once it has exited."""
        return self.process.wait(timeout=timeout_s)


@contextmanager
def apply_process(workspace: Workspace, *extra: str) -> Iterator[ChildApply]:
    """`python -m controller apply manifests --auto-approve --wait ... --emulator ADDR` as a child process
    in the workspace directory; killed on exit if it is still running."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    argv = [
        sys.executable,
        "-m",
        "controller",
        "apply",
        str(workspace.manifests),
        "--auto-approve",
        "--wait",
        "--audit-log",
        str(workspace.root / "audit.log"),
        *extra,
        "--emulator",
        workspace.emulator.grpc_target,
    ]
    log = workspace.root / f"apply-{time.monotonic_ns()}.out"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=workspace.root, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield ChildApply(process, log)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


# The streaming canaries (test_streaming_canary*.py): the `chat` Endpoint's open chat model, version 1 fast,
# version 2 three times slower, canaried on the time to first token.
STREAM_FAST = "gs://emulator-models/open-chat/v1?llm=chat&ttft_ms=20&tokens_per_s=200&output_tokens=8"
STREAM_SLOW = "gs://emulator-models/open-chat/v2?llm=chat&ttft_ms=60&tokens_per_s=66&output_tokens=8"  # 3x slower
STREAM_ROLLOUT = """\
  rollout:
    strategy: canary
    steps: [{weight: 50, pause: 5s}]
    analysis:
      interval: 1s
      initialDelay: 1s
      minRequests: 5
      failureLimit: 0
      inconclusiveLimit: 20
      metrics: [{name: time-to-first-token-p95, max: 40ms}]
"""


def write_streaming(workspace: Workspace, artifact: str, rollout: str = STREAM_ROLLOUT) -> None:
    """The `llm` Model at `artifact` on the `chat` Endpoint, canaried by `rollout`."""
    workspace.write(models=model_yaml(artifact=artifact), endpoints=endpoint_yaml(extra=rollout))


def assert_rolled_back_on_ttft(workspace: Workspace, result: Any) -> None:
    """`apply --wait` rolled the slower version back on time-to-first-token-p95 (max 40 ms): the output and
    the endpoint's rollout record say so, version 1 serves all traffic, and nothing was promoted."""
    assert result.exit_code == 1, result.output
    assert re.search(
        r"Rolled back chat/primary: time-to-first-token-p95 \S+ ms > max 40 ms over \d+ requests", result.output
    ), result.output
    live = workspace.endpoint()
    assert len(live.deployed_models) == 1 and served(live) == {"1": 100}
    labels = rollout_labels(live)
    assert labels["phase"] == "degraded" and labels["reason"] == "analysis-failed"
    assert (labels["reason-metric"], labels["reason-threshold"]) == ("time-to-first-token-p95", "max-40")
    assert float(labels["reason-value"].replace("_", ".")) >= 60  # the canary's first token: 60 ms and more
    assert not rollout_events(workspace.root / "audit.log", "step", "promoted")
