"""Where plan and apply act: the local emulator (default with no project), a running emulator, or Vertex AI.

`open_target` is the composition root for effects: it builds one `VertexProvider` per region on the right
channel and the lock for the target, and tears them down afterwards.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import UserError
from controller.ports import LockPort, MetricsPort, VertexPort

LOCAL_DIR = Path(".genaiops/local")
LOCAL_PROJECT = "local-project"


class RegionPorts(dict[str, VertexPort]):
    """Providers by region, opened on first use: a git source may name regions the flags did not."""

    def __init__(self, factory: Callable[[str], VertexPort]) -> None:
        super().__init__()
        self._factory = factory
        self._lock = threading.Lock()

    def __missing__(self, region: str) -> VertexPort:
        with self._lock:
            if region not in self:
                self[region] = self._factory(region)
            return dict.__getitem__(self, region)


@dataclass
class Target:
    """An opened target: providers per region, the lock, and a name for messages and saved plans."""

    name: str
    project: str
    ports: dict[str, VertexPort]
    lock: LockPort
    metrics: MetricsPort
    api_calls: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetSpec:
    """What the flags asked for."""

    target: str | None
    project: str | None
    emulator: str | None
    lock_bucket: str | None
    state_dir: Path
    traffic_rps: float = 0.0  # local target only: synthetic prediction traffic
    prompt_store: str | None = None

    def prompt_store_url(self) -> str:
        """Where prompts are published: the flag, else the target's default."""
        if self.prompt_store:
            return self.prompt_store
        kind = self.kind
        if kind == "local":
            return str(self.state_dir / "prompt-store")
        if kind == "emulator":
            return ".genaiops/emulator/prompt-store"
        return f"gs://{self.lock_bucket or f'{self.project}-genaiops'}/prompts"

    @property
    def kind(self) -> str:
        """`local`, `emulator` or `cloud`."""
        if self.emulator:
            return "emulator"
        if self.target == "local":
            return "local"
        if self.target == "cloud" or self.project:
            return "cloud"
        return "local"

    def describe(self) -> str:
        """A stable name, recorded in saved plans and compared on apply."""
        kind = self.kind
        if kind == "emulator":
            return f"emulator {self.emulator} (project {self.project or LOCAL_PROJECT})"
        if kind == "local":
            return f"local emulator ({self.state_dir / 'state.json'})"
        return f"Vertex AI project {self.project}"


def spec_from_flags(
    *,
    target: str | None,
    project: str | None,
    emulator: str | None,
    lock_bucket: str | None,
    state_dir: Path | None,
    traffic_rps: float = 0.0,
    prompt_store: str | None = None,
    region: str | None = None,
) -> TargetSpec:
    """Resolve flags and environment (GOOGLE_CLOUD_PROJECT, GENAIOPS_EMULATOR, GENAIOPS_LOCK_BUCKET).
    `region` is the default for manifests without one; the loader applies it (see `load_or_exit`)."""
    if target not in (None, "local", "cloud"):
        raise UserError(f"--target must be 'local' or 'cloud' (got {target!r})")
    emulator = emulator or os.environ.get("GENAIOPS_EMULATOR") or None
    project_env = None if target == "local" else (project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None)
    if target == "cloud" and not project_env:
        raise UserError("--target cloud needs --project or GOOGLE_CLOUD_PROJECT")
    return TargetSpec(
        target=target,
        project=project_env,
        emulator=emulator,
        lock_bucket=lock_bucket or os.environ.get("GENAIOPS_LOCK_BUCKET") or None,
        state_dir=state_dir or LOCAL_DIR,
        traffic_rps=traffic_rps,
        prompt_store=prompt_store,
    )


def _counting(counts: dict[str, int]) -> Any:
    def count(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    return count


@contextmanager
def open_target(spec: TargetSpec, regions: Iterable[str]) -> Iterator[Target]:
    """Open providers for `regions` (at least one) and the lock; close everything on exit."""
    import grpc

    from controller.providers.locks import FileLock, GcsLease
    from controller.providers.monitoring import CloudMonitoringMetrics
    from controller.providers.vertex import VertexProvider

    wanted = sorted(set(regions)) or ["us-central1"]
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        channel: grpc.Channel | None = None
        kind = spec.kind
        if kind == "local":
            from controller.emulator.server import running

            spec.state_dir.mkdir(parents=True, exist_ok=True)
            emulator = stack.enter_context(
                running(
                    state_path=spec.state_dir / "state.json",
                    rest_port=None,
                    storage_port=None,
                    traffic_rps=spec.traffic_rps,
                    min_alignment_period_s=1,
                    traffic_tick_s=0.25,
                )
            )
            channel = grpc.insecure_channel(emulator.grpc_target)
            project = LOCAL_PROJECT
            lock: LockPort = FileLock(spec.state_dir / "apply.lock")
        elif kind == "emulator":
            assert spec.emulator is not None
            channel = grpc.insecure_channel(spec.emulator.removeprefix("grpc://").removeprefix("http://"))
            project = spec.project or LOCAL_PROJECT
            digest = hashlib.sha256(f"{spec.emulator}/{project}".encode()).hexdigest()[:12]
            lock = FileLock(Path(".genaiops/locks") / f"emulator-{digest}.lock")
        else:
            assert spec.project is not None
            project = spec.project
            from google.cloud import storage

            bucket = spec.lock_bucket or f"{project}-genaiops"
            lock = GcsLease(storage.Client(project=project), bucket, f"locks/{project}.json")
        if channel is not None:
            stack.callback(channel.close)
        ports = RegionPorts(
            lambda region: VertexProvider(project=project, region=region, channel=channel, on_call=_counting(counts))
        )
        for region in wanted:
            _ = ports[region]
        metrics = CloudMonitoringMetrics(
            project=project, channel=channel, min_alignment_s=60 if kind == "cloud" else 1, on_call=_counting(counts)
        )
        yield Target(name=spec.describe(), project=project, ports=ports, lock=lock, metrics=metrics, api_calls=counts)
