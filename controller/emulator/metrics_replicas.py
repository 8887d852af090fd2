"""Vertex AI's replica-count gauges for the emulated Cloud Monitoring: `prediction/online/replicas` and
`prediction/online/target_replicas`, one GAUGE INT64 series per deployed model on the monitored resource
`aiplatform.googleapis.com/Endpoint`, with the metric labels deployed_model_id, model_display_name,
endpoint_display_name and spot (as Google's metric list gives them; "sampled every 60 seconds").

Part of the local emulator (controller/emulator). Vertex AI samples these in the background; the emulator
samples lazily instead: before every ListTimeSeries, `ReplicaSampler.due(now)` writes one point per deployed
model for every 60 s tick (multiples of 60 s of the emulator's clock) since the previous read, from the state
at that moment, and never for a tick before the model was deployed. So a test that moves the clock by an
hour and reads sees sixty samples; a model deployed and undeployed between two reads leaves no samples (the
emulator has no history of deployments), which is the one way this differs from the real service. The
emulator does not autoscale: a deployed model runs its minimum replica count, and that is also its target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controller.emulator.metrics_query import RawPoint, SeriesKey
from controller.emulator.vertex import common as c
from controller.emulator.vertex.store import StateStore

ENDPOINT_RESOURCE = "aiplatform.googleapis.com/Endpoint"
REPLICAS = "aiplatform.googleapis.com/prediction/online/replicas"
TARGET_REPLICAS = "aiplatform.googleapis.com/prediction/online/target_replicas"
SAMPLE_PERIOD_S = 60.0


@dataclass(frozen=True)
class Deployed:
    """A deployed model as the replica gauges see it."""

    project: str
    location: str
    endpoint_id: str
    endpoint_display_name: str
    deployed_model_id: str
    model_display_name: str
    replicas: int
    since: float  # when it was deployed (the emulator's clock)


def replicas_of(spec: dict[str, object]) -> int:
    """A deployed model's replica count from its spec (the proto's JSON form): its minimum replica count."""
    for resources in ("dedicated_resources", "automatic_resources"):
        block = spec.get(resources)
        if isinstance(block, dict):
            count = block.get("min_replica_count")
            if isinstance(count, int | str) and str(count).isdigit():
                return max(int(count), 1)
    return 1


class ReplicaSampler:
    """Turns the current deployments into 60 s samples of the two gauges, once per tick."""

    def __init__(self, source: Callable[[], Iterable[Deployed]], *, retention_s: float) -> None:
        self._source = source
        self._retention = retention_s
        self._last_tick = -math.inf

    def due(self, now: float) -> list[tuple[SeriesKey, RawPoint]]:
        """The points of every tick in (previous call, now], for each model deployed now."""
        period = SAMPLE_PERIOD_S
        newest = math.floor(now / period) * period
        oldest = max(self._last_tick + period, math.ceil((now - self._retention) / period) * period)
        if newest < oldest:
            return []
        self._last_tick = newest
        out: list[tuple[SeriesKey, RawPoint]] = []
        for d in self._source():
            first = max(oldest, math.ceil(d.since / period) * period)
            resource = (("endpoint_id", d.endpoint_id), ("location", d.location), ("resource_container", d.project))
            labels = tuple(
                sorted(
                    {
                        "deployed_model_id": d.deployed_model_id,
                        "model_display_name": d.model_display_name,
                        "endpoint_display_name": d.endpoint_display_name,
                        "spot": "false",
                    }.items()
                )
            )
            ticks = [first + i * period for i in range(int((newest - first) // period) + 1)] if first <= newest else []
            for metric in (REPLICAS, TARGET_REPLICAS):
                key = SeriesKey(d.project, metric, ENDPOINT_RESOURCE, resource, labels)
                out.extend((key, RawPoint(t, t, d.replicas)) for t in ticks)
        return out


def deployments(store: StateStore) -> list[Deployed]:
    """Every model deployed on an emulated endpoint now, with its replica count."""
    with store.transaction(write=False) as state:
        out: list[Deployed] = []
        for endpoint in state.endpoints.values():
            parsed = c.parse_name(endpoint.name, "endpoints")
            for deployed in endpoint.deployed_models:
                model = state.models.get(deployed.model)
                version = model.version(deployed.model_version_id) if model else None
                out.append(
                    Deployed(
                        project=parsed.project,
                        location=parsed.location,
                        endpoint_id=parsed.resource_id,
                        endpoint_display_name=endpoint.display_name,
                        deployed_model_id=deployed.id,
                        model_display_name=version.display_name if version else deployed.display_name,
                        replicas=replicas_of(deployed.spec),
                        since=deployed.create_time,
                    )
                )
        return out
