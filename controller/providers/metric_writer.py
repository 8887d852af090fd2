"""The runtime's metric writer: `MetricWriter` (controller/runtime/recorder.py) on
`monitoring_v3.MetricServiceClient`, writing genaiops' custom metrics to Cloud Monitoring or the emulator.

Place in the flow: the batching recorder's background thread hands this module batches of at most 200
`SeriesPoint`s (one per series); each batch becomes one CreateTimeSeries call of CUMULATIVE points on the
`generic_task` monitored resource (project_id, location, namespace "genaiops", job, task_id). The task id
is unique per process (host, pid and a random suffix), so two replicas never write the same CUMULATIVE
series (the API would reject the second writer's older start time); readers sum over tasks.

Descriptors are created with CreateMetricDescriptor, each once per process; ALREADY_EXISTS counts as
success, so concurrent processes are fine. API errors never escape `write`: they come back in a
`WriteResult` (with the accepted point count when the error carries a CreateTimeSeriesSummary, as Cloud
Monitoring's partial-success INVALID_ARGUMENT does).
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence
from typing import Any

import grpc
from google.api import distribution_pb2, label_pb2, metric_pb2
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport
from google.protobuf import any_pb2

from controller.errors import PermanentError
from controller.model.metric_names import RUNTIME_NAMESPACE, RUNTIME_RESOURCE
from controller.providers.google_errors import translate
from controller.runtime.aggregate import (
    Distribution,
    Exponential,
    Linear,
    MetricDef,
    SeriesPoint,
    ValueType,
    WriteResult,
)

__all__ = ["RESOURCE_TYPE", "CloudMonitoringWriter", "distribution_pb", "task_id"]

RESOURCE_TYPE = RUNTIME_RESOURCE
NAMESPACE = RUNTIME_NAMESPACE
_CUMULATIVE = metric_pb2.MetricDescriptor.MetricKind.CUMULATIVE
_VALUE_TYPES = {
    ValueType.INT64: metric_pb2.MetricDescriptor.ValueType.INT64,
    ValueType.DOUBLE: metric_pb2.MetricDescriptor.ValueType.DOUBLE,
    ValueType.DISTRIBUTION: metric_pb2.MetricDescriptor.ValueType.DISTRIBUTION,
}
_LABEL_HELP = {
    "prompt": "Prompt name (from the Prompt manifest).",
    "version": "Prompt version served.",
    "label": "Prompt label (environment) asked for.",
    "model": "Vertex AI model called.",
    "outcome": "How the request ended (ok, cache_hit, blocked_input, ...).",
    "endpoint_id": "Vertex AI endpoint id of an endpoint model ('-' for other models).",
    "deployed_model_id": "The endpoint's deployed model that answered ('-' when not known).",
}
_API_ERRORS = (gexc.GoogleAPIError, grpc.RpcError, auth_exceptions.GoogleAuthError)
_REQUEST_PB: Any = monitoring_v3.CreateTimeSeriesRequest.pb()


def task_id() -> str:
    """A task id unique to this process: host, pid and a random suffix (pids are reused across restarts)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


def distribution_pb(dist: Distribution) -> Any:
    """A `google.api.Distribution` message for `dist`."""
    out = distribution_pb2.Distribution(
        count=dist.count,
        mean=dist.mean if dist.count else 0.0,
        sum_of_squared_deviation=dist.sum_of_squared_deviation if dist.count else 0.0,
        bucket_counts=list(dist.bucket_counts),
    )
    layout = dist.buckets
    if isinstance(layout, Exponential):
        out.bucket_options.exponential_buckets.num_finite_buckets = layout.num_finite_buckets
        out.bucket_options.exponential_buckets.growth_factor = layout.growth_factor
        out.bucket_options.exponential_buckets.scale = layout.scale
    elif isinstance(layout, Linear):
        out.bucket_options.linear_buckets.num_finite_buckets = layout.num_finite_buckets
        out.bucket_options.linear_buckets.width = layout.width
        out.bucket_options.linear_buckets.offset = layout.offset
    return out


def descriptor_pb(project: str, metric: MetricDef) -> Any:
    """The `google.api.MetricDescriptor` of one genaiops metric."""
    return metric_pb2.MetricDescriptor(
        name=f"projects/{project}/metricDescriptors/{metric.type}",
        type=metric.type,
        metric_kind=_CUMULATIVE,
        value_type=_VALUE_TYPES[metric.value_type],
        unit=metric.unit,
        description=metric.description,
        display_name=f"genaiops {metric.name.replace('_', ' ')}",
        labels=[
            label_pb2.LabelDescriptor(key=k, value_type=label_pb2.LabelDescriptor.ValueType.STRING, description=h)
            for k in metric.labels
            for h in (_LABEL_HELP[k],)
        ],
    )


class CloudMonitoringWriter:
    """`MetricWriter` over Cloud Monitoring (or any server speaking `google.monitoring.v3.MetricService`)."""

    def __init__(
        self,
        *,
        project: str,
        emulator: str | None = None,
        channel: grpc.Channel | None = None,
        location: str = "global",
        job: str = "genaiops-runtime",
        task: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        """With `channel` or `emulator` (HOST:PORT, plaintext), talk to that server; otherwise to
        monitoring.googleapis.com with Application Default Credentials."""
        self.project = project
        self.timeout_s = timeout_s
        self._own_channel: grpc.Channel | None = None
        if channel is None and emulator is not None:
            channel = self._own_channel = grpc.insecure_channel(
                emulator.removeprefix("grpc://").removeprefix("http://")
            )
        if channel is not None:
            self._client = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
        else:
            self._client = monitoring_v3.MetricServiceClient()
        self.resource_labels = {
            "project_id": project,
            "location": location,
            "namespace": NAMESPACE,
            "job": job,
            "task_id": task or task_id(),
        }
        self._created: set[str] = set()

    def ensure_descriptors(self, metrics: Sequence[MetricDef]) -> None:
        """Create each descriptor not created yet by this writer; ALREADY_EXISTS is success. Raises a
        `controller.errors` error for the first one that fails (the others are tried next time)."""
        for metric in metrics:
            if metric.type in self._created:
                continue
            try:
                self._client.create_metric_descriptor(
                    name=f"projects/{self.project}",
                    metric_descriptor=descriptor_pb(self.project, metric),
                    retry=None,
                    timeout=self.timeout_s,
                )
            except gexc.AlreadyExists:
                pass
            except gexc.GoogleAPIError as err:
                raise translate(err, what=f"CreateMetricDescriptor {metric.type}") from err
            except (grpc.RpcError, auth_exceptions.GoogleAuthError) as err:
                raise PermanentError(f"CreateMetricDescriptor {metric.type}: {err}") from err
            self._created.add(metric.type)

    def request_pb(self, points: Sequence[SeriesPoint]) -> Any:
        """The raw CreateTimeSeriesRequest for one batch."""
        request = _REQUEST_PB(name=f"projects/{self.project}")
        for p in points:
            ts = request.time_series.add()
            ts.metric.type = p.metric.type
            ts.metric.labels.update(p.labels)
            ts.resource.type = RESOURCE_TYPE
            ts.resource.labels.update(self.resource_labels)
            ts.metric_kind = _CUMULATIVE
            ts.value_type = _VALUE_TYPES[p.metric.value_type]
            point = ts.points.add()
            point.interval.start_time.FromNanoseconds(round(p.start * 1e9))
            point.interval.end_time.FromNanoseconds(round(p.end * 1e9))
            value = p.value
            if isinstance(value, Distribution):
                point.value.distribution_value.CopyFrom(distribution_pb(value))
            elif p.metric.value_type is ValueType.DOUBLE:
                point.value.double_value = float(value)
            else:
                point.value.int64_value = int(value)
        return request

    def write(self, points: Sequence[SeriesPoint]) -> WriteResult:
        """One CreateTimeSeries call; errors come back in the result (with the accepted point count of a
        partial success)."""
        if not points:
            return WriteResult(0)
        request = monitoring_v3.CreateTimeSeriesRequest.wrap(self.request_pb(points))
        try:
            self._client.create_time_series(request=request, retry=None, timeout=self.timeout_s)
        except _API_ERRORS as err:
            return WriteResult(_accepted(err), _describe(err))
        return WriteResult(len(points))

    def close(self) -> None:
        """Close the channel this writer opened (a passed-in channel belongs to the caller)."""
        if self._own_channel is not None:
            self._own_channel.close()
            self._own_channel = None


def _accepted(err: BaseException) -> int:
    """`success_point_count` of the CreateTimeSeriesSummary in an error's details (0 without one). api_core
    leaves detail types it does not know as `google.protobuf.Any`."""
    summary_pb = monitoring_v3.CreateTimeSeriesSummary.pb()
    for detail in getattr(err, "details", None) or ():
        if isinstance(detail, any_pb2.Any):
            if not detail.Is(summary_pb.DESCRIPTOR):
                continue
            summary = summary_pb()
            detail.Unpack(summary)
            return int(summary.success_point_count)
        raw = type(detail).pb(detail) if hasattr(type(detail), "pb") else detail
        if isinstance(raw, summary_pb):
            return int(raw.success_point_count)
    return 0


def _describe(err: BaseException) -> str:
    if isinstance(err, gexc.GoogleAPICallError):
        code = err.grpc_status_code.name if err.grpc_status_code is not None else str(err.code)
        return f"{code}: {err.message}"
    return f"{type(err).__name__}: {err}"
