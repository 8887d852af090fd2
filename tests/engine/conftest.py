"""Fixtures for the engine's component tests: the in-process emulator and an engine `Session` on it, both
on one fake clock that only the test moves. No sleeping: a test advances the clock by hand and has the
emulator synthesise the prediction traffic of that span (`Cloud.serve`), so the rollout driver measures
exactly what the test chose.

Everything runs through the real providers and Google clients over loopback, as the CLI does; manifests
are written to the test's own temporary directory, and the audit log and lock live there too.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.emulator.server import Emulator, running
from controller.engine.audit import AuditLog
from controller.engine.session import Session
from controller.loader import LoadResult, load
from controller.observed import ObservedEndpoint
from controller.providers.connections import plain_channel
from controller.providers.locks_file import FileLock
from controller.providers.monitoring import CloudMonitoringMetrics
from controller.providers.prompt_store import LocalPromptStore
from controller.providers.vertex import VertexProvider

REGION = "us-central1"
START = 1_700_000_000.0  # the fake clock's first reading (unix seconds)
HEALTHY_V1 = "gs://emulator-models/llm/v1"
HEALTHY_V2 = "gs://emulator-models/llm/v2"
ERRORING_V2 = "gs://emulator-models/llm/v2?error_rate=0.5"
TWO_STEPS = "[{weight: 20, pause: 30s}, {weight: 50, pause: 30s}]"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


def model_yaml(artifact: str = HEALTHY_V1) -> str:
    """The `llm` registry model at `artifact`."""
    return textwrap.dedent(
        f"""\
        apiVersion: genaiops/v1
        kind: Model
        metadata: {{name: llm}}
        spec:
          upload:
            artifactUri: {artifact}
            servingContainer: {{imageUri: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest}}
        """
    )


def endpoint_yaml(*, canary: bool = False, steps: str = TWO_STEPS, min_requests: int = 50) -> str:
    """The `chat` endpoint serving `llm` as `primary`; with `canary`, a changed revision rolls out in
    `steps`, analysed every 10 s after a 10 s delay on error rate and p99 latency."""
    text = textwrap.dedent(
        """\
        apiVersion: genaiops/v1
        kind: Endpoint
        metadata: {name: chat}
        spec:
          deployments: [{name: primary, model: llm, maxReplicas: 2}]
          traffic: {primary: 100}
        """
    )
    if canary:
        text += (
            "  rollout:\n"
            "    strategy: canary\n"
            f"    steps: {steps}\n"
            "    analysis:\n"
            "      interval: 10s\n"
            "      initialDelay: 10s\n"
            f"      minRequests: {min_requests}\n"
            "      metrics: [{name: error-rate, max: 0.05}, {name: latency-p99, maxMs: 300}]\n"
        )
    return text


def prompt_yaml(template: str = "Hello {{ customer }}!") -> str:
    """The `greet` prompt (on a publisher model), labelled production."""
    return textwrap.dedent(
        f"""\
        apiVersion: genaiops/v1
        kind: Model
        metadata: {{name: gemini-flash}}
        spec: {{publisher: publishers/google/models/gemini-2.0-flash}}
        ---
        apiVersion: genaiops/v1
        kind: Prompt
        metadata: {{name: greet}}
        spec:
          model: gemini-flash
          template: "{template}"
          variables: {{customer: {{type: string}}}}
          labels: [production]
        """
    )


@dataclass
class Cloud:
    """The emulator, an engine session on it, the fake clock, the audit log and a manifests directory."""

    emulator: Emulator
    session: Session
    clock: FakeClock
    audit: AuditLog
    root: Path

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def write(self, **files: str) -> LoadResult:
        """Replace the manifests with these files (name -> YAML) and load them."""
        self.manifests.mkdir(exist_ok=True)
        for old in self.manifests.glob("*.yaml"):
            old.unlink()
        for name, text in files.items():
            (self.manifests / f"{name}.yaml").write_text(text, encoding="utf-8")
        result = load(self.manifests)
        assert result.ok, [d.summary for d in result.diagnostics]
        return result

    def endpoint(self, endpoint_id: str = "chat") -> ObservedEndpoint:
        """The live endpoint, through the engine's own port."""
        live = self.session.ports[REGION].get_endpoint(endpoint_id)
        assert live is not None, f"no endpoint {endpoint_id}"
        return live

    def split_by_version(self, endpoint_id: str = "chat") -> dict[str, int]:
        """Traffic percent per served model version, e.g. {"1": 80, "2": 20}."""
        live = self.endpoint(endpoint_id)
        version = {d.id: d.spec.version for d in live.deployed_models}
        return {version[k]: v for k, v in live.traffic_split.items() if v > 0}

    def serve(self, seconds: float, *, rps: float = 100.0) -> None:
        """Let `seconds` pass on the fake clock, with `rps` predictions a second routed by the live split."""
        self.emulator.traffic.rps = rps
        self.clock.advance(seconds)
        self.emulator.traffic.generate(seconds, self.clock())

    def audit_records(self) -> list[dict[str, Any]]:
        """Every line of the audit log."""
        assert self.audit.path is not None
        if not self.audit.path.exists():
            return []
        return [json.loads(line) for line in self.audit.path.read_text(encoding="utf-8").splitlines()]

    def operations(self) -> list[str]:
        """The operations the audit log records, in order."""
        return [r["op"] for r in self.audit_records() if "op" in r and r.get("status") == "ok"]


@pytest.fixture
def clock() -> FakeClock:
    """The one clock of the emulator and the engine."""
    return FakeClock()


@pytest.fixture
def cloud(clock: FakeClock, tmp_path: Path) -> Iterator[Cloud]:
    """An in-process emulator (no REST, no storage server) and an engine session on it."""
    with running(rest_port=None, storage_port=None, clock=clock, min_alignment_period_s=1) as emulator:
        channel = plain_channel(emulator.grpc_target)
        try:
            session = Session(
                name=f"emulator {emulator.grpc_target}",
                ports={REGION: VertexProvider(project=emulator.project, region=REGION, channel=channel)},
                metrics=CloudMonitoringMetrics(project=emulator.project, channel=channel, min_alignment_s=1),
                lock=FileLock(tmp_path / "apply.lock"),
                open_prompts=lambda: LocalPromptStore(tmp_path / "prompt-store"),
                clock=clock,
            )
            yield Cloud(emulator, session, clock, AuditLog(tmp_path / "audit.log"), tmp_path)
        finally:
            channel.close()
