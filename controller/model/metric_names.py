"""The Cloud Monitoring names genaiops reads and writes, in one place below every layer that needs them.

Vertex AI's online-prediction metrics (DELTA, on the monitored resource `aiplatform.googleapis.com/Endpoint`
with resource labels resource_container, location, endpoint_id and metric labels deployed_model_id,
model_display_name, endpoint_display_name, spot; `prediction_latencies` adds latency_type) are what canary
analysis reads for endpoints (controller/providers/monitoring.py) and what Alerts on an Endpoint watch.

The runtime client's custom metrics (CUMULATIVE, `custom.googleapis.com/genaiops/<name>` on the
`generic_task` resource with namespace "genaiops", metric labels prompt, version, label, model and, for the
per-outcome ones, outcome) are written by controller/runtime (aggregate.py defines their kinds and value
types) and read by the prompt canary, `genaiops usage` and Alerts on a Prompt or the project.

The streaming metrics (`time_to_first_token`, `output_tokens_per_second`) are the runtime's too: Vertex AI
publishes no per-deployed-model time-to-first-token metric for a self-deployed endpoint in its
`aiplatform.googleapis.com` list (only MaaS publisher models have first-token latencies, and AI AutoMetrics
exports a vLLM container's own `vllm:` Prometheus metrics), so the client measures what its users feel.
An Endpoint canary may instead read time to first token from AI AutoMetrics (`source: vertex` on a
`time-to-first-token-p*` metric): Vertex scrapes a vLLM serving container's `/metrics` into Managed Service
for Prometheus, renamed `vertex_` + the vLLM name with `:` as `_` (as the aiplatform SDK's autoscaling
metric names `prometheus.googleapis.com/vertex_vllm_num_requests_waiting` show), a histogram being read in
Cloud Monitoring as `prometheus.googleapis.com/<name>/histogram` (CUMULATIVE DISTRIBUTION) on the
`prometheus_target` resource, with the metric labels endpoint_id and deployed_model_id AutoMetrics attaches.
The `/histogram` suffix for these Vertex names is Managed Prometheus' rule, not seen for them: UNCONFIRMED.

The planner (controller/plans/alert_compile.py) may not import providers or the runtime, hence this module.
"""

from __future__ import annotations

# ---- Vertex AI (https://cloud.google.com/monitoring/api/metrics_gcp_a_b#gcp-aiplatform) -------------------
VERTEX_METRIC_PREFIX = "aiplatform.googleapis.com/prediction/online/"
PREDICTION_COUNT = VERTEX_METRIC_PREFIX + "prediction_count"  # DELTA INT64
ERROR_COUNT = VERTEX_METRIC_PREFIX + "error_count"  # DELTA INT64 (no series until the first error)
PREDICTION_LATENCIES = VERTEX_METRIC_PREFIX + "prediction_latencies"  # DELTA DISTRIBUTION, ms; latency_type
ENDPOINT_RESOURCE = "aiplatform.googleapis.com/Endpoint"

# ---- the runtime client's custom metrics ----------------------------------------------------------------
RUNTIME_METRIC_PREFIX = "custom.googleapis.com/genaiops/"
RUNTIME_RESOURCE = "generic_task"
RUNTIME_NAMESPACE = "genaiops"
REQUESTS = "requests"  # CUMULATIVE INT64, by outcome
ERRORS = "errors"  # CUMULATIVE INT64, by outcome (timeout, rate_limited, model_error)
LATENCY = "latency"  # CUMULATIVE DISTRIBUTION, ms, by outcome
INPUT_TOKENS = "input_tokens"  # CUMULATIVE INT64
OUTPUT_TOKENS = "output_tokens"  # CUMULATIVE INT64
CACHED_TOKENS = "cached_tokens"  # CUMULATIVE INT64
THINKING_TOKENS = "thinking_tokens"  # CUMULATIVE INT64
COST = "cost"  # CUMULATIVE DOUBLE, US dollars
CACHE_HITS = "cache_hits"  # CUMULATIVE INT64
SAFETY_BLOCKS = "safety_blocks"  # CUMULATIVE INT64, by outcome (blocked_input, blocked_output)
FEEDBACK_SCORE = "feedback_score"  # CUMULATIVE DISTRIBUTION of ratings 1..5
# Streamed answers only (never a whole answer), labelled also endpoint_id and deployed_model_id (an endpoint
# model's answering deployed model; "-" otherwise): the time from the request to the first non-empty chunk,
# and output tokens / (end of stream - first chunk).
TIME_TO_FIRST_TOKEN = "time_to_first_token"  # CUMULATIVE DISTRIBUTION, ms
TOKENS_PER_SECOND = "output_tokens_per_second"  # CUMULATIVE DISTRIBUTION, tokens/s


# ---- AI AutoMetrics (a vLLM serving container's Prometheus metrics, through Managed Service for Prometheus) --
PROMETHEUS_RESOURCE = "prometheus_target"  # resource labels project_id, location, cluster, namespace, job, instance
# vLLM's `vllm:time_to_first_token_seconds` histogram: CUMULATIVE DISTRIBUTION in seconds, per replica; metric
# labels endpoint_id, deployed_model_id, model_display_name, endpoint_display_name, replica_id, product.
VERTEX_TIME_TO_FIRST_TOKEN = "prometheus.googleapis.com/vertex_vllm_time_to_first_token_seconds/histogram"


def runtime_metric_type(name: str) -> str:
    """`custom.googleapis.com/genaiops/<name>`."""
    return RUNTIME_METRIC_PREFIX + name


__all__ = [
    "CACHED_TOKENS",
    "CACHE_HITS",
    "COST",
    "ENDPOINT_RESOURCE",
    "ERRORS",
    "ERROR_COUNT",
    "FEEDBACK_SCORE",
    "INPUT_TOKENS",
    "LATENCY",
    "OUTPUT_TOKENS",
    "PREDICTION_COUNT",
    "PREDICTION_LATENCIES",
    "PROMETHEUS_RESOURCE",
    "REQUESTS",
    "RUNTIME_METRIC_PREFIX",
    "RUNTIME_NAMESPACE",
    "RUNTIME_RESOURCE",
    "SAFETY_BLOCKS",
    "THINKING_TOKENS",
    "TIME_TO_FIRST_TOKEN",
    "TOKENS_PER_SECOND",
    "VERTEX_METRIC_PREFIX",
    "VERTEX_TIME_TO_FIRST_TOKEN",
    "runtime_metric_type",
]
