"""Metric descriptors known to the emulated Cloud Monitoring: Vertex AI's online-prediction metrics and its
publisher-model (Gemini) serving metrics, its replica-count gauges, and the AI AutoMetrics histogram of a
vLLM container's time to first token.

Part of the local emulator (controller/emulator). The metric store (`metrics.py`) answers
ListMetricDescriptors / GetMetricDescriptor from these, checks that a ListTimeSeries filter names a known
metric type (the real API answers NOT_FOUND "Cannot find metric(s) that match type = ..." otherwise), and
registers user-defined descriptors made by CreateMetricDescriptor or by the first CreateTimeSeries of a
custom metric (`metrics_writes.py`). Every emulated Vertex AI call (Predict, GenerateContent) feeds these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.api import label_pb2, launch_stage_pb2, metric_pb2

from controller.emulator.metrics_query import CUMULATIVE, DELTA, DISTRIBUTION, GAUGE, INT64
from controller.emulator.metrics_replicas import REPLICAS, TARGET_REPLICAS
from controller.emulator.metrics_values import ExplicitBuckets

ENDPOINT_RESOURCE = "aiplatform.googleapis.com/Endpoint"
ENDPOINT_RESOURCE_LABELS = ("resource_container", "location", "endpoint_id")
PREFIX = "aiplatform.googleapis.com/prediction/online/"
PREDICTION_COUNT = PREFIX + "prediction_count"
ERROR_COUNT = PREFIX + "error_count"
RESPONSE_COUNT = PREFIX + "response_count"
PREDICTION_LATENCIES = PREFIX + "prediction_latencies"
PUBLISHER_MODEL_RESOURCE = "aiplatform.googleapis.com/PublisherModel"
PUBLISHER_RESOURCE_LABELS = ("resource_container", "location", "publisher", "model_user_id", "model_version_id")
PUBLISHER_PREFIX = "aiplatform.googleapis.com/publisher/online_serving/"
INVOCATION_COUNT = PUBLISHER_PREFIX + "model_invocation_count"
INVOCATION_LATENCIES = PUBLISHER_PREFIX + "model_invocation_latencies"
FIRST_TOKEN_LATENCIES = PUBLISHER_PREFIX + "first_token_latencies"
TOKEN_COUNT = PUBLISHER_PREFIX + "token_count"
# AI AutoMetrics: Vertex scrapes a vLLM serving container's `/metrics` into Managed Service for Prometheus,
# named `vertex_` + the vLLM name with `:` as `_` (the aiplatform SDK's autoscaling metric names, e.g.
# `prometheus.googleapis.com/vertex_vllm_num_requests_waiting`); Managed Prometheus stores a histogram as a
# CUMULATIVE DISTRIBUTION `prometheus.googleapis.com/<name>/histogram` on `prometheus_target` (the suffix for
# these Vertex names is UNCONFIRMED). Metric labels: what AutoMetrics attaches (view-autometrics page) plus
# vLLM's own model_name.
PROMETHEUS_RESOURCE = "prometheus_target"
PROMETHEUS_RESOURCE_LABELS = ("project_id", "location", "cluster", "namespace", "job", "instance")
VLLM_TIME_TO_FIRST_TOKEN = "prometheus.googleapis.com/vertex_vllm_time_to_first_token_seconds/histogram"
# vLLM's `vllm:time_to_first_token_seconds` buckets (vllm/engine/metrics.py), in seconds.
VLLM_TTFT_BUCKETS = ExplicitBuckets(
    (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
)
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
    explicit: bool = False  # made by CreateMetricDescriptor (its label keys are closed), not by a first write

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
        # Replica gauges (metrics_replicas.py): names, kinds and labels from Google's metric list.
        MetricInfo(
            REPLICAS,
            GAUGE,
            INT64,
            "1",
            "Replica count",
            "Number of active replicas used by the deployed model. Sampled every 60 seconds.",
            _COMMON_LABELS,
            (ENDPOINT_RESOURCE,),
        ),
        MetricInfo(
            TARGET_REPLICAS,
            GAUGE,
            INT64,
            "1",
            "Replica target",
            "Target number of active replicas needed for the deployed model. Sampled every 60 seconds.",
            _COMMON_LABELS,
            (ENDPOINT_RESOURCE,),
        ),
        # Publisher-model metrics: names and the labels response_code / error_category / type are from
        # Google's metric list as recorded in the project notes; the full label sets are UNCONFIRMED.
        MetricInfo(
            INVOCATION_COUNT,
            DELTA,
            INT64,
            "1",
            "Model invocation count",
            "Number of model invocations (prediction requests).",
            (
                ("response_code", "Response code of the request."),
                ("error_category", 'Empty on success, else "user", "system" or "capacity".'),
            ),
            (PUBLISHER_MODEL_RESOURCE,),
        ),
        MetricInfo(
            INVOCATION_LATENCIES,
            DELTA,
            DISTRIBUTION,
            "ms",
            "Model invocation latencies",
            "Model invocation latencies (prediction latencies).",
            (),
            (PUBLISHER_MODEL_RESOURCE,),
        ),
        MetricInfo(
            FIRST_TOKEN_LATENCIES,
            DELTA,
            DISTRIBUTION,
            "ms",
            "First token latencies",
            "Duration from request received to first token sent back to the client.",
            (),
            (PUBLISHER_MODEL_RESOURCE,),
        ),
        MetricInfo(
            TOKEN_COUNT,
            DELTA,
            INT64,
            "1",
            "Token count",
            "Accumulated input and output token count.",
            (("type", 'The type of token: "input" or "output".'),),
            (PUBLISHER_MODEL_RESOURCE,),
        ),
        MetricInfo(
            VLLM_TIME_TO_FIRST_TOKEN,
            CUMULATIVE,
            DISTRIBUTION,
            "s",
            "vertex_vllm_time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            (
                ("model_name", "vLLM's served model name."),
                ("deployed_model_id", "The ID of a deployed model which serves inference requests."),
                ("model_display_name", "The display name of a deployed model."),
                ("replica_id", "The unique ID of the deployed model replica (pod name)."),
                ("endpoint_id", "The ID of a model endpoint."),
                ("endpoint_display_name", "The display name of a model endpoint."),
                ("product", "The name of the Vertex AI feature: always online inference."),
            ),
            (PROMETHEUS_RESOURCE,),
        ),
    )
}


def is_user_defined(metric_type: str) -> bool:
    """True for metric types users may write with CreateTimeSeries."""
    return metric_type.startswith(USER_DEFINED_PREFIXES)
