"""Observed state: frozen snapshots of live Vertex AI resources, as the providers return them, and the
values the layers above share (the lowest layer but the model: plans, rollout, ports and providers all
import it, so a type two of them need lives here).

Only what genaiops manages and compares is kept. Server-owned fields (create time, deployed model ids,
etags) are here for identity and staleness, and never appear in a diff. `fingerprint` is what a saved plan
records so that `apply PLANFILE` can refuse to act on a world that changed since planning.

- `DeploymentSpec`: the shape of one deployed model, the same value in the observed state, the planned
  `DeployModel` operation, `VertexPort.deploy_model` and the plan's comparison of the two.
- `Sample`: what the metrics port saw of one deployed model over a window (the analysis judges it).
- `Phase`: where a rollout is, as recorded in the endpoint's labels (telemetry reports it).
- `OpenModelSource`: what Model Garden's deploy action says of an open model (the planner uploads it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE

RETAIN_LABEL = "genaiops-retain"
SPEC_LABEL = "genaiops-spec"  # hash of the manifest spec genaiops last applied (drift = live differs, spec same)
COMMIT_LABEL = "genaiops-commit"  # the git commit of the last apply that wrote the resource
SUSPEND_LABEL = "genaiops-suspended"  # `genaiops suspend NAME`: reconciliation paused


@dataclass(frozen=True)
class ReservationAffinity:
    """`machineSpec.reservationAffinity`: type any | specific | none, and for specific the key and values."""

    type: str
    key: str = ""
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExplanationParameters:
    """`explanationSpec.parameters` of a deployed model: method sampled-shapley | integrated-gradients | xrai
    with its path or step count, and top k (0: not set)."""

    method: str
    path_count: int = 0
    step_count: int = 0
    top_k: int = 0


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment's shape: which model version it serves, on which machines. `name` is the manifest's
    deployment name (the DeployedModel's display name). `version` is a version id; in a planned
    `DeployModel` it may still be `@alias` or the new version the plan uploads, resolved when it runs."""

    name: str
    model_id: str
    version: str
    machine_type: str
    min_replicas: int
    max_replicas: int
    accelerator_type: str | None = None
    accelerator_count: int = 0
    disable_container_logging: bool = False
    service_account: str | None = None
    # (API metric name, target) pairs, sorted: `dedicatedResources.autoscalingMetricSpecs` (changed in place)
    autoscaling: tuple[tuple[str, int], ...] = ()
    spot: bool = False  # set at deploy only
    reservation: ReservationAffinity | None = None  # set at deploy only
    explanation: ExplanationParameters | None = None  # set at deploy only

    def identity(self) -> tuple[object, ...]:
        """What makes a deployed model another one rather than the same one resized: model, version,
        machine and accelerator, service account, and what only DeployModel sets (Spot, reservation,
        explanation). Replica counts and autoscaling targets change in place."""
        accelerator = (self.accelerator_type, self.accelerator_count) if self.accelerator_type else (None, 0)
        return (
            self.model_id,
            self.version,
            self.machine_type,
            accelerator,
            self.service_account or None,
            self.spot,
            self.reservation,
            self.explanation,
        )


@dataclass(frozen=True)
class ObservedDeployedModel:
    """A model deployed on an endpoint: its server-assigned id and what it is."""

    id: str
    spec: DeploymentSpec


@dataclass(frozen=True)
class RequestLogging:
    """`predictRequestResponseLoggingConfig`: enabled, sampling rate, BigQuery output URI ("" when unset)."""

    enabled: bool
    sampling_rate: float
    bigquery_table: str = ""


@dataclass(frozen=True)
class EndpointSettings:
    """An endpoint's serving settings beyond deployments and traffic. `logging` changes in place
    (UpdateEndpoint); the rest is set by CreateEndpoint only."""

    logging: RequestLogging | None = None
    dedicated: bool = False
    network: str = ""
    private_service_connect: bool = False
    psc_project_allowlist: tuple[str, ...] = ()
    kms_key_name: str = ""
    dedicated_dns: str = ""  # output only: the dedicated endpoint's DNS name, once created

    def create_only(self) -> tuple[object, ...]:
        """What only CreateEndpoint sets: a difference here cannot be applied to a live endpoint."""
        return (
            self.dedicated,
            self.network,
            self.private_service_connect,
            tuple(sorted(self.psc_project_allowlist)),
            self.kms_key_name,
        )


@dataclass(frozen=True)
class ObservedEndpoint:
    """A live endpoint (only managed ones are ever observed)."""

    endpoint_id: str
    region: str
    display_name: str
    description: str
    labels: Mapping[str, str]
    deployed_models: tuple[ObservedDeployedModel, ...]
    traffic_split: Mapping[str, int]  # deployed model id -> percent
    etag: str
    update_time: str
    settings: EndpointSettings = field(default_factory=EndpointSettings)

    @property
    def managed(self) -> bool:
        """True when genaiops owns this endpoint."""
        return self.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE

    def deployed(self, deployed_model_id: str) -> ObservedDeployedModel | None:
        """The deployed model with this id, if any."""
        return next((d for d in self.deployed_models if d.id == deployed_model_id), None)


@dataclass(frozen=True)
class ContainerSpec:
    """The serving container of a model version (what a new version is uploaded with)."""

    image_uri: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    ports: tuple[int, ...] = ()
    predict_route: str | None = None
    health_route: str | None = None


@dataclass(frozen=True)
class OpenModelSource:
    """What Model Garden says of an open publisher model (ModelGardenService.GetPublisherModel): its name
    (`publishers/P/models/M`) and version id, and its deploy action (`supportedActions.deploy`): the serving
    container and artifact a registry model is uploaded with, and the machines Model Garden deploys it on.
    `container` is None when the model has no deploy action for your own endpoints (Google serves it)."""

    name: str
    version_id: str
    container: ContainerSpec | None
    artifact_uri: str = ""
    eula_required: bool = False  # the model card asks to accept a licence first (`supportedActions.requestAccess`)
    model_display_name: str = ""
    machine_type: str = ""  # `deploy.dedicatedResources.machineSpec`: Model Garden's default machines
    accelerator_type: str = ""
    accelerator_count: int = 0

    @property
    def reference(self) -> str:
        """`publishers/P/models/M@VERSION`."""
        return f"{self.name}@{self.version_id}" if self.version_id else self.name


@dataclass(frozen=True)
class ObservedModelVersion:
    """One version of a registry model."""

    version_id: str
    aliases: tuple[str, ...]
    artifact_uri: str
    container: ContainerSpec
    update_time: str = ""


@dataclass(frozen=True)
class ObservedModel:
    """A live registry model: its default version, and any versions looked up by alias."""

    model_id: str
    region: str
    display_name: str
    description: str
    labels: Mapping[str, str]
    default_version: ObservedModelVersion
    update_time: str

    @property
    def managed(self) -> bool:
        """True when genaiops owns this model."""
        return self.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


class JobState(StrEnum):
    """Where a Vertex AI tuning or pipeline job is (the API's JobState, coarsened)."""

    PENDING = "pending"  # queued or pending
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # cancelling or cancelled

    @property
    def finished(self) -> bool:
        """No more progress will come."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


TUNING_LABEL = "genaiops-tuning"  # the TuningJob manifest a job was started for
TUNING_HASH_LABEL = "genaiops-tuning-hash"  # the hash of its spec and its datasets' content
ATTEMPT_LABEL = "genaiops-attempt"  # 1, then one more per `genaiops retry`
GATE_LABEL = "genaiops-gate"  # on a tuned model: passed | failed, once its gate ran
GATE_HASH_LABEL = "genaiops-gate-hash"  # the hash of the gate that judged it (a changed gate judges again)


@dataclass(frozen=True)
class ObservedTuningJob:
    """A supervised tuning job genaiops started (labels say for which manifest, spec and attempt)."""

    name: str  # projects/P/locations/L/tuningJobs/ID
    region: str
    manifest: str
    spec_hash: str
    attempt: int
    state: JobState
    error: str = ""  # the service's error for a failed job
    tuned_model: str = ""  # projects/P/locations/L/models/ID@1, once succeeded
    tuned_endpoint: str = ""  # projects/P/locations/L/endpoints/ID, once succeeded
    create_time: str = ""
    gate: str = ""  # the tuned model's genaiops-gate label: "", passed or failed
    gate_hash: str = ""  # the gate it was judged by


@dataclass(frozen=True)
class ObservedPipelineJob:
    """A Vertex AI Pipelines run genaiops submitted (its id is the manifest name and the spec hash)."""

    name: str  # projects/P/locations/L/pipelineJobs/ID
    job_id: str
    region: str
    manifest: str
    spec_hash: str
    state: JobState
    error: str = ""
    create_time: str = ""


class ScheduleState(StrEnum):
    """Where a Vertex AI schedule is (the API's Schedule.State)."""

    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"  # its end time or run count reached: it starts no more runs


@dataclass(frozen=True)
class ObservedSchedule:
    """A Vertex AI Pipelines schedule genaiops created for a Pipeline with `schedule`. Schedules carry no
    labels: their display name is `<manifest>-<spec hash>`, and the pipeline job they create carries the
    Pipeline's labels (managed-by, manifest, spec hash)."""

    name: str  # projects/P/locations/L/schedules/ID (server-assigned)
    region: str
    manifest: str
    spec_hash: str
    cron: str
    state: ScheduleState
    display_name: str = ""
    create_time: str = ""


@dataclass(frozen=True)
class Observed:
    """Everything genaiops manages in the target, by region and resource ID."""

    endpoints: Mapping[tuple[str, str], ObservedEndpoint] = field(default_factory=dict)
    models: Mapping[tuple[str, str], ObservedModel] = field(default_factory=dict)
    # (region, model_id, "@alias" or "@3") -> version id, for references the default version does not answer
    versions: Mapping[tuple[str, str, str], str] = field(default_factory=dict)
    # addresses of resources the manifests declare that exist but belong to someone else (no managed-by)
    unmanaged: frozenset[str] = frozenset()
    # (region, `publisher` of an open Model) -> what Model Garden says of it; None: it has no such model
    open_models: Mapping[tuple[str, str], OpenModelSource | None] = field(default_factory=dict)

    def fingerprint(self) -> dict[str, str]:
        """Resource address -> the etag or update time that must still hold when a saved plan is applied."""
        prints = {address("Endpoint", r, i): e.etag or e.update_time for (r, i), e in self.endpoints.items()}
        prints.update({address("Model", r, i): m.update_time for (r, i), m in self.models.items()})
        return prints


@dataclass(frozen=True)
class Sample:
    """What the metrics source saw for one deployed model over one window."""

    requests: int = 0
    errors: int = 0
    latency_ms: Mapping[int, float | None] = field(default_factory=dict)  # percentile (50/95/99) -> value
    custom: Mapping[str, float | None] = field(default_factory=dict)  # metric name -> value of its query
    error: str | None = None  # the queries every metric needs failed: why
    custom_errors: Mapping[str, str] = field(default_factory=dict)  # metric name -> why its own query failed
    # Built-in metrics beyond errors and latency, by metric name (the runtime's prompt metrics:
    # cost-per-request, output-tokens-per-request, safety-block-rate, feedback-score); None: no data.
    values: Mapping[str, float | None] = field(default_factory=dict)
    # Per-interval values of a metric over the window (metric name -> one value per alignment period, in
    # time order), for the statistical judge; filled only for metrics that ask for `judge`.
    series: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        """errors / requests, None without requests."""
        return self.errors / self.requests if self.requests else None


class Phase(StrEnum):
    """Where a rollout is."""

    PROGRESSING = "progressing"
    PAUSED = "paused"
    HEALTHY = "healthy"  # promoted
    DEGRADED = "degraded"  # rolled back

    @property
    def terminal(self) -> bool:
        """Healthy and degraded rollouts make no more progress."""
        return self in (Phase.HEALTHY, Phase.DEGRADED)


def address(kind: str, region: str, name: str) -> str:
    """The stable address of a resource in plans, audit lines and messages: `Endpoint/us-central1/chat`."""
    return f"{kind}/{region}/{name}"


ALERT_LABEL = "genaiops-alert"  # user label of an alert policy or notification channel: its manifest's name


@dataclass(frozen=True)
class ObservedAlertPolicy:
    """A Cloud Monitoring alert policy genaiops manages (user labels managed-by and genaiops-alert). `body`
    is the policy in its REST JSON form (camelCase) as far as genaiops declares it: displayName,
    documentation, userLabels, conditions (without their server-assigned names), combiner, enabled,
    notificationChannels (full names), severity."""

    name: str  # projects/P/alertPolicies/ID (server-assigned)
    manifest: str
    body: Mapping[str, Any]

    @property
    def user_labels(self) -> Mapping[str, str]:
        """The policy's user labels."""
        labels: Mapping[str, str] = self.body.get("userLabels", {})
        return labels


@dataclass(frozen=True)
class ObservedNotificationChannel:
    """A Cloud Monitoring notification channel genaiops manages. `body` is its REST JSON form as far as
    genaiops declares it (type, displayName, description, labels without secrets, userLabels, enabled); a
    secret label (a Slack `auth_token`) is never read back, the secret version it came from is recorded in
    the user label `genaiops-secret` (its hash)."""

    name: str  # projects/P/notificationChannels/ID (server-assigned)
    manifest: str
    body: Mapping[str, Any]
