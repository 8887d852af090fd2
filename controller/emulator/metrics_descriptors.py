"""Metric descriptors known to the emulated Cloud Monitoring: Vertex AI's online-prediction metrics.

Part of the local emulator (controller/emulator). The metric store (`metrics.py`) answers
ListMetricDescriptors / GetMetricDescriptor from these, checks that a ListTimeSeries filter names a known
metric type (the real API answers NOT_FOUND "Cannot find metric(s) that match type = ..." otherwise), and
registers user-defined descriptors when CreateTimeSeries first writes a custom metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.api import label_pb2, launch_stage_pb2, metric_pb2

from controller.emulator.metrics_query import DELTA, DISTRIBUTION, INT64

ENDPOINT_RESOURCE = "aiplatform.googleapis.com/Endpoint"
ENDPOINT_RESOURCE_LABELS = ("resource_container", "location", "endpoint_id")
PREFIX = "aiplatform.googleapis.com/prediction/online/"
PREDICTION_COUNT = PREFIX + "prediction_count"
ERROR_COUNT = PREFIX + "error_count"
RESPONSE_COUNT = PREFIX + "response_count"
PREDICTION_LATENCIES = PREFIX + "prediction_latencies"
USER_DEFINED_PREFIXES = (
    "custom.googleapis.com/",
    "workload.googleapis.com/",
    "external.googleapis.com/",
    "logging.googleapis.com/user/",
)


@dataclass(frozen=True)
class MetricInfo:
    """What the store needs to know of a metric type (a `google.api.MetricDescriptor`)."""

    type: str
    kind: int
    value_type: int
    unit: str
    display_name: str
    description: str
    labels: tuple[tuple[str, str], ...]  # (key, description)
    resource_types: tuple[str, ...] = ()

    def to_pb(self, project: str) -> Any:
        """The `google.api.MetricDescriptor` message as ListMetricDescriptors returns it."""
        return metric_pb2.MetricDescriptor(
            name=f"projects/{project}/metricDescriptors/{self.type}",
            type=self.type,
            labels=[
                label_pb2.LabelDescriptor(key=k, value_type=label_pb2.LabelDescriptor.STRING, description=d)
                for k, d in self.labels
            ],
            metric_kind=self.kind,
            value_type=self.value_type,
            unit=self.unit,
            description=self.description,
            display_name=self.display_name,
            launch_stage=launch_stage_pb2.GA,
            monitored_resource_types=list(self.resource_types),
        )


_COMMON_LABELS = (
    ("deployed_model_id", "The ID of the DeployedModel which serves the prediction request."),
    ("model_display_name", "The display name of the DeployedModel."),
    ("endpoint_display_name", "The display name of the Endpoint."),
    ("spot", "Whether this deployed model is running on Spot VM."),
)

BUILTIN: dict[str, MetricInfo] = {
    m.type: m
    for m in (
        MetricInfo(
            PREDICTION_COUNT,
            DELTA,
            INT64,
            "1",
            "Prediction count",
            "Number of online predictions.",
            _COMMON_LABELS,
            (ENDPOINT_RESOURCE,),
        ),
        MetricInfo(
            ERROR_COUNT,
            DELTA,
            INT64,
            "1",
            "Error count",
            "Number of online prediction errors.",
            _COMMON_LABELS,
            (ENDPOINT_RESOURCE,),
        ),
        MetricInfo(
            RESPONSE_COUNT,
            DELTA,
            INT64,
            "1",
            "Response count",
            "Number of different online prediction response codes.",
            (*_COMMON_LABELS, ("response_code", "Response code of prediction request.")),
            (ENDPOINT_RESOURCE,),
        ),
        MetricInfo(
            PREDICTION_LATENCIES,
            DELTA,
            DISTRIBUTION,
            "ms",
            "Prediction latencies",
            "Online prediction latency of the deployed model.",
            (*_COMMON_LABELS, ("latency_type", 'One of "prediction", "model" or "total".')),
            (ENDPOINT_RESOURCE,),
        ),
    )
}


def is_user_defined(metric_type: str) -> bool:
    """True for metric types users may write with CreateTimeSeries."""
    return metric_type.startswith(USER_DEFINED_PREFIXES)
