"""Ports: the Protocols the engine talks to. Providers implement them on the Google clients (or the local
filesystem); tests may implement them on the emulator through the same providers. Errors crossing a port
are `controller.errors` types only, never vendor exceptions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from controller.model import Metric
from controller.observed import (
    ContainerSpec,
    DeploymentSpec,
    EndpointSettings,
    ObservedAlertPolicy,
    ObservedEndpoint,
    ObservedModel,
    ObservedNotificationChannel,
    ObservedPipelineJob,
    ObservedSchedule,
    ObservedTuningJob,
    OpenModelSource,
    RequestLogging,
    Sample,
)


class VertexPort(Protocol):
    """Vertex AI in one (project, region)."""

    @property
    def region(self) -> str: ...

    def list_endpoints(self) -> list[ObservedEndpoint]:
        """Every managed endpoint (label managed-by=genaiops), all pages."""
        ...

    def list_models(self) -> list[ObservedModel]:
        """Every managed model with its default version, all pages."""
        ...

    def resolve_version(self, model_id: str, ref: str) -> str | None:
        """The version id `ref` (`@alias`, `@3`) names on a model, or None if it names none."""
        ...

    def get_endpoint(self, endpoint_id: str) -> ObservedEndpoint | None:
        """One endpoint (managed or not), None when absent."""
        ...

    def create_endpoint(
        self,
        *,
        endpoint_id: str,
        display_name: str,
        description: str,
        labels: Mapping[str, str],
        settings: EndpointSettings | None = None,
    ) -> ObservedEndpoint:
        """Create with the serving settings (None: none); the create-only ones can never change later."""
        ...

    def update_endpoint(
        self,
        *,
        endpoint_id: str,
        etag: str,
        traffic_split: Mapping[str, int],
        labels: Mapping[str, str],
        display_name: str,
        description: str,
    ) -> ObservedEndpoint: ...

    def deploy_model(self, *, endpoint_id: str, spec: DeploymentSpec) -> str:
        """Deploy `spec` (its `version` a version id) with no traffic; returns the deployed model id."""
        ...

    def update_request_logging(self, endpoint_id: str, logging: RequestLogging | None) -> ObservedEndpoint:
        """Set the endpoint's request-response logging alone (None: off); the split and labels stay."""
        ...

    def mutate_deployed_model(
        self,
        *,
        endpoint_id: str,
        deployed_model_id: str,
        min_replicas: int,
        max_replicas: int,
        autoscaling: tuple[tuple[str, int], ...] | None = None,
        disable_container_logging: bool | None = None,
    ) -> None:
        """Change replica counts in place, and the autoscaling targets and container logging unless None."""
        ...

    def undeploy_model(self, *, endpoint_id: str, deployed_model_id: str) -> None: ...

    def delete_endpoint(self, endpoint_id: str) -> None: ...

    def get_model(self, model_id: str) -> ObservedModel | None: ...

    def upload_model(
        self,
        *,
        model_id: str,
        parent_exists: bool,
        display_name: str,
        description: str,
        labels: Mapping[str, str],
        artifact_uri: str,
        container: ContainerSpec,
        aliases: tuple[str, ...],
    ) -> str:
        """Upload a model or a new default version; returns the version id."""
        ...

    def update_model(
        self, *, model_id: str, display_name: str, description: str, labels: Mapping[str, str]
    ) -> None: ...

    def merge_version_aliases(self, *, model_id: str, version_id: str, aliases: tuple[str, ...]) -> None:
        """Add aliases (and remove those written `-alias`)."""
        ...

    def delete_model(self, model_id: str) -> None: ...


class ModelGardenPort(Protocol):
    """Model Garden (ModelGardenService): what an open model's deploy action says, read at plan time."""

    def get_open_model(self, *, region: str, publisher_model: str) -> OpenModelSource | None:
        """GetPublisherModel of `publisher_model` (`publishers/P/models/M[@VERSION]`) in `region`; None when
        Model Garden has no such model."""
        ...


class MetricsPort(Protocol):
    """Prediction metrics of deployed models (Cloud Monitoring, or the emulator's)."""

    def sample(
        self,
        *,
        region: str,
        endpoint_id: str,
        deployed_model_id: str,
        start: float,
        end: float,
        metrics: Sequence[Metric],
    ) -> Sample:
        """Requests, errors, latency percentiles and custom query values over [start, end] (unix seconds).
        A query that fails is reported in `Sample.error`, never raised."""
        ...


class PromptMetricsPort(Protocol):
    """The runtime client's metrics of one prompt version (`custom.googleapis.com/genaiops/...`)."""

    def sample_prompt(
        self,
        *,
        prompt: str,
        label: str,
        version: str,
        start: float,
        end: float,
        metrics: Sequence[Metric],
    ) -> Sample:
        """What the requests for `prompt` under `label` that `version` served saw over [start, end] (unix
        seconds): requests, errors (timeouts, rate limits, model errors), latency percentiles in ms, and
        `Sample.values` for the prompt metrics (cost-per-request, output-tokens-per-request,
        safety-block-rate, feedback-score); `Sample.series` for metrics with a judge. A query that fails
        is reported in `Sample.error` (or `custom_errors`), never raised."""
        ...


class TuningPort(Protocol):
    """Tuning on Vertex AI (GenAiTuningService), Vertex AI Pipelines, the target's bucket for datasets, and
    calls to a tuned model (for its evaluation gate)."""

    def dataset_uri(self, *, name: str, digest: str) -> str:
        """Where a dataset version lives in the target's bucket: gs://BUCKET/genaiops/datasets/NAME/DIGEST.jsonl."""
        ...

    def dataset_exists(self, uri: str) -> bool:
        """True when the object is there."""
        ...

    def upload_dataset(self, *, path: str, uri: str) -> bool:
        """Upload a local file to `uri` unless an object is there (never overwritten); True when uploaded."""
        ...

    def list_tuning_jobs(self, *, region: str) -> list[ObservedTuningJob]:
        """Every tuning job genaiops started in the region (by its labels), with the gate labels of their tuned
        models, all pages."""
        ...

    def create_tuning_job(
        self,
        *,
        region: str,
        base_model: str,
        training_uri: str,
        validation_uri: str | None,
        epochs: int | None,
        learning_rate_multiplier: float | None,
        adapter_size: int | None,
        display_name: str,
        description: str,
        labels: Mapping[str, str],
    ) -> ObservedTuningJob:
        """Start a supervised tuning job (the server names it)."""
        ...

    def record_gate(self, *, tuned_model: str, labels: Mapping[str, str]) -> None:
        """Add `labels` to the tuned model (its gate verdict), keeping its other labels."""
        ...

    def generate(self, *, endpoint: str, text: str, system_instruction: str | None) -> str:
        """One answer of a tuned model (at its endpoint) to `text`; errors as controller.errors."""
        ...

    def list_pipeline_jobs(self, *, region: str) -> list[ObservedPipelineJob]:
        """Every pipeline run genaiops submitted in the region (by its labels)."""
        ...

    def create_pipeline_job(
        self,
        *,
        region: str,
        job_id: str,
        display_name: str,
        pipeline_spec: Mapping[str, object],
        parameters: Mapping[str, object],
        pipeline_root: str | None,
        service_account: str | None,
        labels: Mapping[str, str],
    ) -> ObservedPipelineJob:
        """Submit a run with this id; AlreadyExistsError when one has it."""
        ...

    def list_schedules(self, *, region: str) -> list[ObservedSchedule]:
        """Every pipeline schedule genaiops created in the region (by its pipeline job's labels), all pages."""
        ...

    def create_schedule(
        self,
        *,
        region: str,
        display_name: str,
        cron: str,
        pipeline_spec: Mapping[str, object],
        parameters: Mapping[str, object],
        pipeline_root: str | None,
        service_account: str | None,
        labels: Mapping[str, str],
    ) -> ObservedSchedule:
        """Create a schedule (the server names it) that runs the pipeline on `cron`, one run at a time."""
        ...

    def delete_schedule(self, name: str) -> None:
        """Delete a schedule (waits for the operation); NotFoundError when it is gone."""
        ...


class LockPort(Protocol):
    """Mutual exclusion for applies on one target."""

    def acquire(self, *, owner: str, wait_s: float) -> str:
        """Take the lock (waiting up to `wait_s`); returns the lock id. Raises LockedError when held."""
        ...

    def release(self, lock_id: str) -> None: ...

    def force_unlock(self, lock_id: str) -> None:
        """Remove a lock left behind by a process that died; refuses when the id is not the holder's."""
        ...


class TelemetryPort(Protocol):
    """Where the reconcile loop reports what it does (Prometheus metrics and health endpoints)."""

    def heartbeat(self) -> None: ...

    def pass_finished(self, duration_s: float, ok: bool) -> None: ...

    def error(self, kind: str) -> None: ...

    def set_resources(self, counts: Mapping[tuple[str, str], int]) -> None:
        """(kind, status) -> how many; status in_sync | out_of_sync | failed | suspended."""
        ...

    def set_drift(self, count: int) -> None: ...

    def set_rollout(self, endpoint: str, deployment: str, phase: str, weight: float) -> None: ...

    def set_prompt_rollout(self, prompt: str, label: str, phase: str, weight: float) -> None: ...

    def set_commit(self, sha: str) -> None: ...

    def set_leader(self, leader: bool) -> None: ...

    def set_ready(self, ready: bool) -> None: ...


class InventoryPort(Protocol):
    """Everything Vertex AI holds in one (project, region), owned by genaiops or not, for `genaiops import`;
    and the one write import makes: the ownership label, added to a resource whose imported manifest
    plans to no changes."""

    @property
    def region(self) -> str: ...

    def all_endpoints(self) -> list[ObservedEndpoint]:
        """Every endpoint of the region (no label filter), all pages."""
        ...

    def all_models(self) -> list[ObservedModel]:
        """Every registry model of the region with its default version (no label filter), all pages."""
        ...

    def adopt_endpoint(self, *, endpoint_id: str, etag: str, labels: Mapping[str, str]) -> ObservedEndpoint:
        """One UpdateEndpoint of `labels` only, guarded by `etag` (ConflictError when it changed since read)."""
        ...

    def adopt_model(self, *, model_id: str, labels: Mapping[str, str]) -> None:
        """One UpdateModel of `labels` only."""
        ...


class AlertsPort(Protocol):
    """Cloud Monitoring alert policies and notification channels of the target project (AlertPolicyService,
    NotificationChannelService), and Secret Manager for channel secrets. Bodies are REST JSON (camelCase)."""

    def list_alert_policies(self) -> list[ObservedAlertPolicy]:
        """Every alert policy labelled managed-by=genaiops, all pages."""
        ...

    def create_alert_policy(self, body: Mapping[str, Any]) -> ObservedAlertPolicy: ...

    def update_alert_policy(self, name: str, body: Mapping[str, Any]) -> ObservedAlertPolicy:
        """Replace what genaiops declares of the policy (an update mask of those fields)."""
        ...

    def delete_alert_policy(self, name: str) -> None: ...

    def list_notification_channels(self) -> list[ObservedNotificationChannel]:
        """Every notification channel labelled managed-by=genaiops, all pages."""
        ...

    def create_notification_channel(self, body: Mapping[str, Any]) -> ObservedNotificationChannel: ...

    def update_notification_channel(self, name: str, body: Mapping[str, Any]) -> ObservedNotificationChannel: ...

    def delete_notification_channel(self, name: str) -> None: ...

    def read_secret(self, version: str) -> str:
        """The payload of a Secret Manager secret version (projects/P/secrets/S/versions/V)."""
        ...


class WebResponse(Protocol):
    """An HTTP answer: the status, every header to send (Content-Type included), and the body, whole or as
    chunks to write and flush one by one (a server-sent event stream, until the client goes away)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...

    @property
    def body(self) -> bytes | Iterator[bytes]: ...


class WebApp(Protocol):
    """What answers HTTP requests an HTTP server does not answer itself: the dashboard, which the reconcile
    loop's telemetry server serves under `/` with `reconcile --ui` (so the providers never import it).
    `target` is the request target as sent (path and query); header names are lowercase."""

    def __call__(self, *, method: str, target: str, headers: Mapping[str, str]) -> WebResponse: ...
