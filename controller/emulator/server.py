"""The composed emulator: Vertex AI + Operations + Cloud Monitoring (metrics, alert policies, notification
channels) + Secret Manager on one plaintext gRPC port, the REST gateway for the high-level SDK (and the
alerting and Secret Manager REST APIs), and Cloud Storage, with fault injection, a settable calendar (the day
Gemini models retire on: `calendar.py`) and optional synthetic traffic.

`running(...)` is the entry point for tests and in-process use; `genaiops emulator start` (cli/
emulator_cmd.py) runs the same `Emulator` in the foreground. The client factories build the REAL Google
gapic clients on one shared `grpc.insecure_channel`, as a user would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import grpc

from controller.emulator.alerting_channels import NotificationChannelService
from controller.emulator.alerting_policies import AlertPolicyService, alerting_store, metric_describer
from controller.emulator.calendar import Calendar, CalendarAdmin
from controller.emulator.faults import FaultAdmin, FaultInjector
from controller.emulator.grpc_adapter import build_server
from controller.emulator.info import EmulatorInfo
from controller.emulator.metrics import MetricStore
from controller.emulator.metrics_replicas import deployments
from controller.emulator.rest import RestGateway
from controller.emulator.rest_generate import start_gateway
from controller.emulator.secretmanager import SecretManager
from controller.emulator.storage import StorageEmulator
from controller.emulator.storage_model import StorageError
from controller.emulator.traffic import TrafficGenerator
from controller.emulator.vertex import StateStore, VertexServices


class Emulator:
    """One emulated cloud. Construct, `start()`, use the addresses or client factories, `stop()`."""

    def __init__(
        self,
        *,
        project: str = "local-project",
        location: str = "us-central1",
        host: str = "127.0.0.1",
        port: int = 0,
        rest_port: int | None = 0,
        storage_port: int | None = 0,
        state_path: Path | None = None,
        traffic_rps: float = 0.0,
        faults: Sequence[str] = (),
        lro_delay_s: float | dict[str, float] = 0.0,
        seed: int = 0,
        real_latency: bool = False,
        min_alignment_period_s: float = 60.0,
        min_point_spacing_s: float = 10.0,
        gemini_models: Mapping[str, str] | None = None,
        today: date | None = None,
        traffic_tick_s: float = 1.0,
        tuning_duration_s: float = 5.0,
        pipeline_duration_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`rest_port` / `storage_port` of None leave that server out; 0 picks a free port.
        `min_point_spacing_s`: how far apart CreateTimeSeries points of one series must be (Cloud Monitoring
        documents 10 s; some pages may say 5 s). `gemini_models`: extra emulated publisher models, model id ->
        behaviour parameters (`vertex/gemini.py`). Publisher models past their last day (and models tuned from
        them) answer 404, judged on `self.calendar` (`calendar.py`): `today` fixes the day it starts on (default:
        GENAIOPS_TODAY, else the UTC date of `clock`); the admin RPC SetToday moves it while running.
        `tuning_duration_s` / `pipeline_duration_s`: how long, on `clock`, a tuning job / pipeline run takes
        to finish (`vertex/tuning.py`, `vertex/pipelines.py`)."""
        for name, value in (("port", port), ("rest_port", rest_port), ("storage_port", storage_port)):
            if value is not None and not 0 <= value <= 65535:
                raise ValueError(f"{name} must be between 0 and 65535 (0: any free port), got {value}")
        self.project, self.location, self.host = project, location, host
        self._ports = (port, rest_port, storage_port)
        self.state_path = state_path
        self.faults = FaultInjector(faults, seed=seed)
        self.calendar = Calendar(start=today, clock=clock)
        self.metrics = MetricStore(
            min_alignment_period_s=min_alignment_period_s, min_point_spacing_s=min_point_spacing_s, clock=clock
        )
        self.vertex = VertexServices(
            state_path=state_path,
            recorder=self.metrics,
            generation_recorder=self.metrics,
            gemini_models=gemini_models,
            calendar=self.calendar,
            tuning_duration_s=tuning_duration_s,
            pipeline_duration_s=pipeline_duration_s,
            read_object=self._read_object,
            lro_delay_s=lro_delay_s,
            seed=seed,
            real_latency=real_latency,
            clock=clock,
        )
        self.metrics.track_replicas(lambda: deployments(self.vertex.store))  # the replica-count gauges
        alerting = alerting_store(_beside(state_path, "alerting"))  # policies name channels: one store
        describe = metric_describer(self.metrics.methods())
        self.alert_policies = AlertPolicyService(alerting, describe=describe, clock=clock)
        self.notification_channels = NotificationChannelService(alerting, clock=clock)
        self.secrets = SecretManager(path=_beside(state_path, "secrets"), clock=clock)
        self.traffic = TrafficGenerator(
            self.vertex.store, self.metrics, rps=traffic_rps, seed=seed + 2, tick_s=traffic_tick_s, clock=clock
        )
        self._grpc: grpc.Server | None = None
        self._rest: RestGateway | None = None
        self._storage: StorageEmulator | None = None
        self._channel: grpc.Channel | None = None
        self.grpc_port = self.rest_port = self.storage_port = 0
        self._started = threading.Event()  # GetInfo may arrive before the other servers are bound

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind and serve everything in background threads."""
        port, rest_port, storage_port = self._ports
        configuration = [
            *self.alert_policies.methods(),
            *self.notification_channels.methods(),
            *self.secrets.methods(),
        ]
        methods = [
            *self.vertex.methods(),
            *self.metrics.methods(),
            *configuration,
            *FaultAdmin(self.faults).methods(),
            *CalendarAdmin(self.calendar).methods(),
            *EmulatorInfo(self.info).methods(),
        ]
        self._grpc, self.grpc_port = build_server(methods, host=self.host, port=port, hook=self.faults)
        if self.grpc_port == 0:
            self.stop()
            raise OSError(f"could not bind gRPC port {self.host}:{port}")
        try:
            if rest_port is not None:
                self._rest, self.rest_port = start_gateway(
                    [*self.vertex.methods(), *configuration],
                    generate=self.vertex.generate,
                    host=self.host,
                    port=rest_port,
                    hook=self.faults,
                )
            if storage_port is not None:
                self._storage = StorageEmulator(persist_path=self._storage_path(), hook=self.faults)
                self.storage_port = self._storage.start(self.host, storage_port)
        except Exception:
            self.stop()
            raise
        if self.traffic.rps > 0:
            self.traffic.start()
        self._started.set()
        return self

    def stop(self) -> None:
        """Stop traffic and every server; safe to call twice."""
        self.faults.release()
        self.traffic.stop()
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._rest is not None:
            self._rest.shutdown()
            self._rest = None
        if self._storage is not None:
            self._storage.stop()
            self._storage = None
        if self._grpc is not None:
            self._grpc.stop(grace=0.5).wait()
            self._grpc = None

    def _read_object(self, bucket: str, name: str) -> bytes | None:
        """An object of this emulator's Cloud Storage (None when absent or when storage is not running)."""
        storage = self._storage
        store = storage._store if storage is not None else None  # the same process: no HTTP round trip
        if store is None:
            return None
        try:
            return store.get_object(bucket, name, None).data
        except StorageError:
            return None

    def _storage_path(self) -> Path | None:
        if self.state_path is None:
            return None
        return self.state_path.with_name(f"{self.state_path.stem}.storage.json")

    # -- addresses ----------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """What GetInfo answers: project, location, the bound ports (0 for a server not running) and
        `createCalls`, how many CreateTuningJob / CreatePipelineJob calls reached the emulator."""
        self._started.wait(timeout=5.0)
        return {
            "project": self.project,
            "location": self.location,
            "grpcPort": self.grpc_port,
            "restPort": self.rest_port if self._rest is not None else 0,
            "storagePort": self.storage_port if self._storage is not None else 0,
            "createCalls": self.vertex.create_calls(),
        }

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    @property
    def grpc_target(self) -> str:
        """`HOST:PORT` for `grpc.insecure_channel`."""
        return f"{self._client_host}:{self.grpc_port}"

    @property
    def rest_endpoint(self) -> str:
        """`http://HOST:PORT` for `aiplatform.init(api_endpoint=..., api_transport="rest")`, and the
        `base_url` of google-genai's `HttpOptions` (see `genai_client`)."""
        return f"http://{self._client_host}:{self.rest_port}"

    @property
    def storage_host(self) -> str:
        """The value for `STORAGE_EMULATOR_HOST`."""
        return f"http://{self._client_host}:{self.storage_port}"

    @property
    def state(self) -> StateStore:
        """The Vertex state (read it with `with emulator.state.transaction(write=False) as s:`)."""
        return self.vertex.store

    @property
    def parent(self) -> str:
        """`projects/P/locations/L` of the default project and location."""
        return f"projects/{self.project}/locations/{self.location}"

    # -- real clients -------------------------------------------------------------------------------
    @property
    def channel(self) -> grpc.Channel:
        """One plaintext channel shared by the client factories (closed by `stop()`)."""
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.grpc_target)
        return self._channel

    def endpoint_client(self) -> Any:
        """A real `aiplatform_v1.EndpointServiceClient` on the shared channel."""
        from google.cloud import aiplatform_v1
        from google.cloud.aiplatform_v1.services.endpoint_service.transports.grpc import EndpointServiceGrpcTransport

        return aiplatform_v1.EndpointServiceClient(transport=EndpointServiceGrpcTransport(channel=self.channel))

    def model_client(self) -> Any:
        """A real `aiplatform_v1.ModelServiceClient` on the shared channel."""
        from google.cloud import aiplatform_v1
        from google.cloud.aiplatform_v1.services.model_service.transports.grpc import ModelServiceGrpcTransport

        return aiplatform_v1.ModelServiceClient(transport=ModelServiceGrpcTransport(channel=self.channel))

    def prediction_client(self) -> Any:
        """A real `aiplatform_v1.PredictionServiceClient` on the shared channel."""
        from google.cloud import aiplatform_v1
        from google.cloud.aiplatform_v1.services.prediction_service.transports.grpc import (
            PredictionServiceGrpcTransport,
        )

        return aiplatform_v1.PredictionServiceClient(transport=PredictionServiceGrpcTransport(channel=self.channel))

    def llm_utility_client(self) -> Any:
        """A real `aiplatform_v1.LlmUtilityServiceClient` (CountTokens) on the shared channel."""
        from google.cloud import aiplatform_v1
        from google.cloud.aiplatform_v1.services.llm_utility_service.transports.grpc import (
            LlmUtilityServiceGrpcTransport,
        )

        return aiplatform_v1.LlmUtilityServiceClient(transport=LlmUtilityServiceGrpcTransport(channel=self.channel))

    def tuning_client(self) -> Any:
        """A real `aiplatform_v1.GenAiTuningServiceClient` on the shared channel."""
        from google.cloud import aiplatform_v1
        from google.cloud.aiplatform_v1.services.gen_ai_tuning_service.transports.grpc import (
            GenAiTuningServiceGrpcTransport,
        )

        return aiplatform_v1.GenAiTuningServiceClient(transport=GenAiTuningServiceGrpcTransport(channel=self.channel))

    def pipeline_client(self) -> Any:
        """A real `aiplatform_v1.PipelineServiceClient` on the shared channel."""
        from google.cloud import aiplatform_v1
        from google.cloud.aiplatform_v1.services.pipeline_service.transports.grpc import PipelineServiceGrpcTransport

        return aiplatform_v1.PipelineServiceClient(transport=PipelineServiceGrpcTransport(channel=self.channel))

    def metric_client(self) -> Any:
        """A real `monitoring_v3.MetricServiceClient` on the shared channel."""
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport

        return monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=self.channel))

    def alert_policy_client(self) -> Any:
        """A real `monitoring_v3.AlertPolicyServiceClient` on the shared channel."""
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.alert_policy_service.transports.grpc import (
            AlertPolicyServiceGrpcTransport,
        )

        return monitoring_v3.AlertPolicyServiceClient(transport=AlertPolicyServiceGrpcTransport(channel=self.channel))

    def notification_channel_client(self) -> Any:
        """A real `monitoring_v3.NotificationChannelServiceClient` on the shared channel."""
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.notification_channel_service.transports.grpc import (
            NotificationChannelServiceGrpcTransport,
        )

        transport = NotificationChannelServiceGrpcTransport(channel=self.channel)
        return monitoring_v3.NotificationChannelServiceClient(transport=transport)

    def secret_manager_client(self) -> Any:
        """A real `secretmanager_v1.SecretManagerServiceClient` on the shared channel."""
        from google.cloud import secretmanager_v1
        from google.cloud.secretmanager_v1.services.secret_manager_service.transports.grpc import (
            SecretManagerServiceGrpcTransport,
        )

        transport = SecretManagerServiceGrpcTransport(channel=self.channel)
        return secretmanager_v1.SecretManagerServiceClient(transport=transport)

    def genai_client(self, *, api_version: str | None = None) -> Any:
        """A real `google.genai.Client` in Vertex mode on the REST gateway (the SDK's default API version,
        v1beta1, unless `api_version` is given). Project and location must be passed with a custom base URL,
        and the SDK needs credentials that carry a token (anonymous ones cannot be refreshed)."""
        from google import genai
        from google.genai import types
        from google.oauth2.credentials import Credentials

        return genai.Client(
            vertexai=True,
            project=self.project,
            location=self.location,
            credentials=Credentials(token="emulator"),  # type: ignore[no-untyped-call]
            http_options=types.HttpOptions(base_url=self.rest_endpoint, api_version=api_version),
        )


def _beside(state_path: Path | None, kind: str) -> Path | None:
    """`<state>.<kind>.json` next to the state file (None without one: memory only)."""
    return None if state_path is None else state_path.with_name(f"{state_path.stem}.{kind}.json")


@contextmanager
def running(
    *,
    project: str = "local-project",
    location: str = "us-central1",
    state_path: Path | None = None,
    traffic_rps: float = 0,
    faults: Sequence[str] = (),
    lro_delay_s: float | dict[str, float] = 0,
    seed: int = 0,
    **options: Any,
) -> Iterator[Emulator]:
    """Run an emulator for the duration of the block (ephemeral loopback ports unless given in options).

    `options` are the other `Emulator` arguments: host, port, rest_port, storage_port (None = off),
    real_latency, min_alignment_period_s, min_point_spacing_s, gemini_models, today, traffic_tick_s,
    tuning_duration_s, pipeline_duration_s, clock.
    """
    emulator = Emulator(
        project=project,
        location=location,
        state_path=state_path,
        traffic_rps=traffic_rps,
        faults=faults,
        lro_delay_s=lro_delay_s,
        seed=seed,
        **options,
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
