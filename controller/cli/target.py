"""Where plan and apply act: the local emulator (default with no project), a running emulator, or Vertex AI.

`open_target` is the composition root for effects: it builds one `VertexProvider` per region on the right
channel, the lock and the prompt store of the target, and tears them down afterwards. The clients
themselves come from provider factories (`controller.providers.connections`).

The lock lives with the target, so every client of one target meets at the same lock whatever its working
directory or spelling of the address: on Vertex AI and on a running emulator it is the lease object
`gs://<bucket>/locks/<project>.json` (in the emulator's own Cloud Storage, found through its GetInfo RPC);
on the local target it is a flock in the state directory, which is where that target's whole "cloud"
lives (its embedded emulator serves no storage a second process could share).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.errors import UserError
from controller.ports import (
    AlertsPort,
    LockPort,
    MetricsPort,
    ModelGardenPort,
    PromptMetricsPort,
    TuningPort,
    VertexPort,
)
from controller.prompts.store import PromptStore

if TYPE_CHECKING:
    from controller.providers.connections import Channel

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
    """An opened target: providers per region, the lock, the prompt store, and a name for messages and
    saved plans."""

    name: str
    project: str
    ports: dict[str, VertexPort]
    lock: LockPort
    metrics: MetricsPort
    open_prompt_store: Callable[[], PromptStore]
    api_calls: dict[str, int] = field(default_factory=dict)
    channel: Channel | None = None  # the emulator's gRPC channel; None on Vertex AI (the clients' default)
    prompt_metrics: PromptMetricsPort | None = None  # the runtime client's metrics (prompt canaries)
    tuning: TuningPort | None = None  # tuning jobs, pipelines and the datasets' bucket
    compile_pipeline: Callable[[str, Path], dict[str, Any]] | None = None  # with --allow-code only
    model_garden: ModelGardenPort | None = None  # open models' deploy actions (GetPublisherModel)
    alerts: AlertsPort | None = None  # alert policies, notification channels, Secret Manager (Cloud Monitoring)


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
    allow_code: bool = False  # compile `function:` Pipelines with kfp (code from the repository)
    environment: str | None = None  # the `--env` whose project, bucket and prompt store these are

    def prompt_store_url(self) -> str:
        """Where prompts are published: the flag, else the target's default."""
        if self.prompt_store:
            return self.prompt_store
        if self.kind == "local":
            return str(self.state_dir / "prompt-store")
        return f"gs://{self.bucket}/prompts"

    @property
    def bucket(self) -> str:
        """The bucket of the lease and the default prompt store (emulator and cloud targets)."""
        return self.lock_bucket or f"{self.project or LOCAL_PROJECT}-genaiops"

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
        """A stable name, recorded in saved plans and compared on apply (so a plan made for one environment
        is never applied to another)."""
        kind = self.kind
        if kind == "emulator":
            name = f"emulator {self.emulator} (project {self.project or LOCAL_PROJECT})"
        elif kind == "local":
            name = f"local emulator ({self.state_dir / 'state.json'})"
        else:
            name = f"Vertex AI project {self.project}"
        return f"{name}, environment {self.environment}" if self.environment else name


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
    allow_code: bool = False,
    environment: str | None = None,
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
        allow_code=allow_code,
        environment=environment,
    )


def _counting(counts: dict[str, int]) -> Any:
    def count(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    return count


@dataclass(frozen=True)
class _Opened:
    """What each kind of target contributes to `open_target`."""

    channel: Channel | None  # None: the gapic clients' default (Vertex AI)
    project: str
    lock: LockPort
    open_prompt_store: Callable[[], PromptStore]
    storage: Any = None  # the Cloud Storage client of the target's bucket (None: the local target)


def _open_local(spec: TargetSpec, stack: ExitStack) -> _Opened:
    from controller.emulator.server import running
    from controller.providers.connections import plain_channel
    from controller.providers.locks import FileLock
    from controller.providers.prompt_store import open_store

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
    channel = plain_channel(emulator.grpc_target)
    stack.callback(channel.close)
    url = spec.prompt_store_url()
    return _Opened(
        channel=channel,
        project=LOCAL_PROJECT,
        lock=FileLock(spec.state_dir / "apply.lock"),
        open_prompt_store=lambda: open_store(url),
    )


def _open_emulator(spec: TargetSpec, stack: ExitStack) -> _Opened:
    from controller.providers.connections import connect_emulator, emulator_storage_client, ensure_bucket, lease
    from controller.providers.prompt_store import open_store

    assert spec.emulator is not None
    channel, info = connect_emulator(spec.emulator)
    stack.callback(channel.close)
    project = spec.project or LOCAL_PROJECT
    client = emulator_storage_client(info, project=project)
    ensure_bucket(client, spec.bucket)
    url = spec.prompt_store_url()  # gs:// here means the emulator's storage, like the lease
    return _Opened(
        channel=channel,
        project=project,
        lock=lease(client, bucket=spec.bucket, project=project, target=spec.describe()),
        open_prompt_store=lambda: open_store(url, client=client),
        storage=client,
    )


def _open_cloud(spec: TargetSpec) -> _Opened:
    from controller.providers.connections import cloud_storage_client, lease
    from controller.providers.prompt_store import open_store

    assert spec.project is not None
    project = spec.project
    client = cloud_storage_client(project)
    url = spec.prompt_store_url()
    return _Opened(
        channel=None,
        project=project,
        lock=lease(client, bucket=spec.bucket, project=project),
        open_prompt_store=lambda: open_store(url),
        storage=client,
    )


def _kfp_compiler() -> Callable[[str, Path], dict[str, Any]]:
    from controller.providers.kfp_compile import compile_function

    return compile_function


@contextmanager
def open_target(spec: TargetSpec, regions: Iterable[str]) -> Iterator[Target]:
    """Open providers for `regions` (at least one), the lock and the prompt store; close everything on exit.

    Raises UserError when a running emulator does not answer (within a few seconds, not after retries)."""
    wanted = sorted(set(regions)) or ["us-central1"]
    counts: dict[str, int] = {}
    with ExitStack() as stack:
        kind = spec.kind
        if kind == "local":
            opened = _open_local(spec, stack)
        elif kind == "emulator":
            opened = _open_emulator(spec, stack)
        else:
            opened = _open_cloud(spec)
        from controller.providers.model_garden import ModelGardenProvider
        from controller.providers.monitoring import CloudMonitoringMetrics  # after the connection check: slow
        from controller.providers.monitoring_alerts import MonitoringAlerts
        from controller.providers.prompt_metrics import CloudMonitoringPromptMetrics
        from controller.providers.vertex import VertexProvider
        from controller.providers.vertex_tuning import VertexTuning

        channel, project = opened.channel, opened.project
        ports = RegionPorts(
            lambda region: VertexProvider(project=project, region=region, channel=channel, on_call=_counting(counts))
        )
        for region in wanted:
            _ = ports[region]
        min_alignment_s = 60 if kind == "cloud" else 1
        metrics = CloudMonitoringMetrics(
            project=project, channel=channel, min_alignment_s=min_alignment_s, on_call=_counting(counts)
        )
        prompt_metrics = CloudMonitoringPromptMetrics(
            project=project, channel=channel, min_alignment_s=min_alignment_s, on_call=_counting(counts)
        )
        yield Target(
            name=spec.describe(),
            project=project,
            ports=ports,
            lock=opened.lock,
            metrics=metrics,
            open_prompt_store=opened.open_prompt_store,
            api_calls=counts,
            channel=channel,
            prompt_metrics=prompt_metrics,
            tuning=VertexTuning(
                project=project,
                channel=channel,
                storage_client=opened.storage,
                bucket=spec.bucket,
                local_bucket=spec.state_dir / "buckets" if kind == "local" else None,
                on_call=_counting(counts),
            ),
            compile_pipeline=_kfp_compiler() if spec.allow_code else None,
            model_garden=ModelGardenProvider(channel=channel, on_call=_counting(counts)),
            alerts=MonitoringAlerts(project=project, channel=channel, on_call=_counting(counts)),
        )
