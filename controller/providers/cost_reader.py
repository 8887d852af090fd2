"""Reads what `genaiops cost` prices, from Cloud Monitoring and Vertex AI (or the emulator), into the plain
values of `controller.cost.report`.

- `read_replicas`: ListTimeSeries of Vertex AI's `prediction/online/replicas` GAUGE (one series per deployed
  model, on `aiplatform.googleapis.com/Endpoint`) over the window, twice: ALIGN_MEAN and ALIGN_COUNT per
  hour (or per window when shorter), no cross-series reduction; a period's mean x its sample count x 60 s is
  its node-seconds. A project that never served has no such metric data: no rows.
- `read_tokens`: the runtime client's counters (`CloudMonitoringUsage.read_totals`, the `genaiops usage`
  path) per (prompt, version, label, model), turned into token usage; model calls are the requests whose
  outcome reached a model (ok, blocked_output, fallback).
- `read_tuning`: ListTuningJobs of the jobs genaiops started (label managed-by) with base model, end time,
  `tuning_data_stats.supervised_tuning_data_stats.total_billable_token_count` and the epoch count.
- `machines`: what each live deployed model runs on, from the observed endpoints.

API errors become `controller.errors` errors (NOT_FOUND of a metric is no data).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.cloud import monitoring_v3
from google.cloud.aiplatform_v1.services.gen_ai_tuning_service.transports.grpc import GenAiTuningServiceGrpcTransport
from google.cloud.monitoring_v3.services.metric_service.transports.grpc import MetricServiceGrpcTransport

from controller.cost.report import HOUR_S, Machine, ReplicaPeriod, ReplicaUsage, TokenUsage, TuningUsage
from controller.errors import TransientError
from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from controller.observed import TUNING_LABEL, ObservedEndpoint
from controller.providers.google_errors import call, translate
from controller.providers.metric_reader import CloudMonitoringUsage, list_series, point_value, series_request
from controller.runtime.usage import SeriesTotal

__all__ = ["REPLICAS", "CostReader", "machines"]

REPLICAS = "aiplatform.googleapis.com/prediction/online/replicas"
_MODEL_CALLS = frozenset({"ok", "blocked_output", "fallback"})
_TOKENS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cached_tokens": "cached_tokens",
    "thinking_tokens": "thinking_tokens",
    "cost": "recorded_usd",
}
_Aligner = monitoring_v3.Aggregation.Aligner
_Reducer = monitoring_v3.Aggregation.Reducer
_SeriesId = tuple[str, str, str, str, bool]  # region, endpoint id, deployed model id, display name, spot


def machines(endpoints: Iterable[ObservedEndpoint]) -> dict[tuple[str, str, str], Machine]:
    """What each live deployed model runs on, by (region, endpoint id, deployed model id)."""
    return {
        (e.region, e.endpoint_id, d.id): Machine(
            model=d.spec.model_id,
            machine_type=d.spec.machine_type,
            accelerator_type=d.spec.accelerator_type,
            accelerator_count=d.spec.accelerator_count,
        )
        for e in endpoints
        for d in e.deployed_models
    }


class CostReader:
    """Replica samples, token counters and tuning jobs of one project."""

    def __init__(
        self,
        *,
        project: str,
        channel: grpc.Channel | None = None,
        timeout_s: float = 30.0,
        min_alignment_s: float = 60.0,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        """With `channel`, talk to that server (the emulator); otherwise to Google with Application Default
        Credentials. `min_alignment_s` is the monitoring API's smallest alignment period."""
        self.project = project
        self.timeout_s = timeout_s
        self.min_alignment_s = min_alignment_s
        self._channel = channel
        self._on_call = on_call
        if channel is not None:
            self._metrics = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))
        else:
            self._metrics = monitoring_v3.MetricServiceClient()
        self._usage = CloudMonitoringUsage(
            project=project, channel=channel, timeout_s=timeout_s, min_alignment_s=min_alignment_s, on_call=on_call
        )

    # ---- serving ------------------------------------------------------------------------------------------
    def read_replicas(self, *, start: float, end: float) -> list[ReplicaUsage]:
        """Each deployed model's replica gauge over [start, end], per hour (mean and sample count)."""
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise ValueError(f"invalid window [{start}, {end}]")
        period = max(min(int(HOUR_S), math.ceil(round(end - start, 6))), math.ceil(self.min_alignment_s), 1)
        means = self._replica_series(start, end, period, _Aligner.ALIGN_MEAN)
        counts = self._replica_series(start, end, period, _Aligner.ALIGN_COUNT)
        out: list[ReplicaUsage] = []
        for series, by_end in sorted(means.items()):
            samples = counts.get(series, {})
            periods = tuple(
                ReplicaPeriod(mean=mean, samples=int(samples.get(at, 0))) for at, mean in sorted(by_end.items())
            )
            region, endpoint_id, deployed_model_id, display, spot = series
            out.append(ReplicaUsage(region, endpoint_id, deployed_model_id, display, periods, spot=spot))
        return out

    def _replica_series(self, start: float, end: float, period: int, aligner: Any) -> dict[_SeriesId, dict[int, float]]:
        request = series_request(
            project=self.project,
            flt=f'metric.type = "{REPLICAS}" AND resource.type = "aiplatform.googleapis.com/Endpoint"',
            start=start,
            end=end,
            period_s=period,
            aligner=aligner,
            reducer=_Reducer.REDUCE_NONE,
        )
        try:
            found = list_series(self._metrics, request, timeout_s=self.timeout_s, on_call=self._on_call)
        except gexc.NotFound:
            return {}
        except gexc.GoogleAPIError as err:
            raise translate(err, what=f"ListTimeSeries {REPLICAS}") from err
        except grpc.RpcError as err:
            raise TransientError(f"ListTimeSeries {REPLICAS}: {err}") from err
        out: dict[_SeriesId, dict[int, float]] = defaultdict(dict)
        for ts in found:
            resource, metric = ts.resource.labels, ts.metric.labels
            key = (
                resource.get("location", ""),
                resource.get("endpoint_id", ""),
                metric.get("deployed_model_id", ""),
                metric.get("model_display_name", ""),
                metric.get("spot", "false").lower() == "true",
            )
            for point in ts.points:
                value = point_value(point)
                if isinstance(value, float):
                    out[key][point.interval.end_time.seconds] = value
        return out

    # ---- tokens -------------------------------------------------------------------------------------------
    def read_tokens(self, *, start: float, end: float) -> list[TokenUsage]:
        """The runtime client's token counters over [start, end], per (prompt, version, label, model)."""
        return token_usage(self._usage.read_totals(start=start, end=end))

    # ---- tuning -------------------------------------------------------------------------------------------
    def read_tuning(self, *, regions: Iterable[str]) -> list[TuningUsage]:
        """Every tuning job genaiops started in `regions` (all pages)."""
        out: list[TuningUsage] = []
        for region in sorted(set(regions)):
            if self._channel is not None:
                client = v1.GenAiTuningServiceClient(transport=GenAiTuningServiceGrpcTransport(channel=self._channel))
            else:
                client = v1.GenAiTuningServiceClient(
                    client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"}
                )
            request = v1.ListTuningJobsRequest(
                parent=f"projects/{self.project}/locations/{region}",
                filter=f'labels.{MANAGED_BY_LABEL}="{MANAGED_BY_VALUE}"',
            )
            if self._on_call is not None:
                self._on_call("ListTuningJobs")
            out.extend(_tuning(job, region) for job in _list_jobs(client, request, region))
        return out


def _list_jobs(client: Any, request: v1.ListTuningJobsRequest, region: str) -> list[Any]:
    jobs: list[Any] = call(f"listing tuning jobs in {region}", lambda: list(client.list_tuning_jobs(request=request)))
    return jobs


def _tuning(job: Any, region: str) -> TuningUsage:
    pb = v1.TuningJob.pb(job)
    stats = pb.tuning_data_stats.supervised_tuning_data_stats
    has_stats = pb.HasField("tuning_data_stats") and pb.tuning_data_stats.HasField("supervised_tuning_data_stats")
    tokens = int(stats.total_billable_token_count) if has_stats and stats.total_billable_token_count else None
    epochs = int(pb.supervised_tuning_spec.hyper_parameters.epoch_count) or None
    return TuningUsage(
        name=pb.name,
        region=region,
        manifest=dict(pb.labels).get(TUNING_LABEL, ""),
        base_model=pb.base_model,
        succeeded=pb.state == v1.JobState.JOB_STATE_SUCCEEDED,
        end_time=pb.end_time.ToNanoseconds() / 1e9 if pb.HasField("end_time") else None,
        dataset_tokens=tokens,
        epochs=epochs,
    )


def token_usage(totals: Iterable[SeriesTotal]) -> list[TokenUsage]:
    """Runtime metric totals as token usage per (prompt, version, label, model); groups without tokens are
    left out (cache hits and errors cost nothing)."""
    sums: dict[tuple[str, str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for total in totals:
        if isinstance(total.value, float | int):
            key = tuple(total.labels.get(k, "") for k in ("prompt", "version", "label", "model"))
            group = sums[(key[0], key[1], key[2], key[3])]
            if total.metric == "requests" and total.labels.get("outcome") in _MODEL_CALLS:
                group["model_calls"] += total.value
            elif total.metric in _TOKENS:
                group[_TOKENS[total.metric]] += total.value
    out: list[TokenUsage] = []
    for (prompt, version, label, model), group in sorted(sums.items()):
        counts = {k: round(group.get(k, 0.0)) for k in ("input_tokens", "output_tokens", "cached_tokens")}
        thinking = round(group.get("thinking_tokens", 0.0))
        if not (counts["input_tokens"] or counts["output_tokens"] or thinking):
            continue
        out.append(
            TokenUsage(
                prompt=prompt,
                version=version,
                label=label,
                model=model,
                model_calls=round(group.get("model_calls", 0.0)),
                thinking_tokens=thinking,
                recorded_usd=group.get("recorded_usd", 0.0),
                **counts,
            )
        )
    return out
