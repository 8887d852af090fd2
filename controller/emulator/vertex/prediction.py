"""google.cloud.aiplatform.v1.PredictionService: Predict, routed by the endpoint's live traffic split.

Each request draws a number to pick a deployed model by the split's weights, then simulates that model
(its behaviour comes from the artifact URI, see `behaviour.py`): an error at the model's error rate
(INTERNAL, HTTP 500) or an echo of the instances. The simulated latency is reported to the metrics
recorder, not slept, unless `real_latency` is set. Synthetic traffic (`traffic.py`) uses the same routes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import grpc
from google.cloud import aiplatform_v1 as v1

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.behaviour import Behaviour, behaviour_of
from controller.emulator.vertex import common as c
from controller.emulator.vertex.state import CloudState, EndpointRecord
from controller.emulator.vertex.store import StateStore

SERVICE = "google.cloud.aiplatform.v1.PredictionService"
_RESPONSE_PB = type(v1.PredictResponse.pb(v1.PredictResponse()))  # raw protobuf: ~10x cheaper to build


class PredictionRecorder(Protocol):
    """Receives every prediction, real or synthetic (implemented by `metrics.MetricStore`)."""

    def record_prediction(
        self,
        *,
        project: str,
        location: str,
        endpoint_id: str,
        endpoint_display_name: str,
        deployed_model_id: str,
        model_display_name: str,
        latency_ms: float,
        response_code: int,
        at: float,
    ) -> None: ...

    def record_first_token(
        self,
        *,
        project: str,
        location: str,
        endpoint_id: str,
        endpoint_display_name: str,
        deployed_model_id: str,
        model_display_name: str,
        seconds: float,
        at: float,
    ) -> None:
        """A chat model's streamed answer: its server-side time to first token (AutoMetrics' vLLM histogram)."""


@dataclass(frozen=True)
class Target:
    """A deployed model a request can be routed to."""

    deployed_model_id: str
    model: str
    model_version_id: str
    model_display_name: str
    behaviour: Behaviour
    artifact_uri: str = ""  # where further behaviour is read (`llm.py`: an emulated chat model)
    image_uri: str = ""  # the serving container's image (an OpenAI-compatible one makes a chat model)
    base_model: str = ""  # a tuned model's base publisher model id, which it retires with ("": not tuned)


@dataclass(frozen=True)
class Route:
    """An endpoint's routing table at one moment: targets with their traffic weights."""

    project: str
    location: str
    endpoint_id: str
    endpoint_display_name: str
    weighted: tuple[tuple[int, Target], ...]

    def pick(self, draw: float) -> Target:
        """The target for a uniform draw in [0, 1)."""
        point, cumulative = draw * 100, 0
        for weight, target in self.weighted:
            cumulative += weight
            if point < cumulative:
                return target
        return self.weighted[-1][1]

    def record(self, recorder: PredictionRecorder, target: Target, *, latency_ms: float, code: int, at: float) -> None:
        """Report one request to the recorder."""
        recorder.record_prediction(
            project=self.project,
            location=self.location,
            endpoint_id=self.endpoint_id,
            endpoint_display_name=self.endpoint_display_name,
            deployed_model_id=target.deployed_model_id,
            model_display_name=target.model_display_name,
            latency_ms=latency_ms,
            response_code=code,
            at=at,
        )

    def record_first_token(self, recorder: PredictionRecorder, target: Target, *, seconds: float, at: float) -> None:
        """Report one streamed answer's time to first token to the recorder."""
        recorder.record_first_token(
            project=self.project,
            location=self.location,
            endpoint_id=self.endpoint_id,
            endpoint_display_name=self.endpoint_display_name,
            deployed_model_id=target.deployed_model_id,
            model_display_name=target.model_display_name,
            seconds=seconds,
            at=at,
        )


def route_of(state: CloudState, endpoint: EndpointRecord) -> Route | None:
    """The endpoint's routes, or None when it has no deployed model with traffic."""
    weighted: list[tuple[int, Target]] = []
    for deployed_id, weight in sorted(endpoint.traffic_split.items()):
        deployed = endpoint.deployed(deployed_id)
        if weight <= 0 or deployed is None:
            continue
        model = state.models.get(deployed.model)
        version = model.version(deployed.model_version_id) if model else None
        uri, display = (version.artifact_uri, version.display_name) if version else ("", deployed.display_name)
        image = str(version.spec.get("container_spec", {}).get("image_uri", "")) if version else ""
        base = version.tuned_from if version else ""
        target = Target(
            deployed_id, deployed.model, deployed.model_version_id, display, behaviour_of(uri), uri, image, base
        )
        weighted.append((weight, target))
    if not weighted:
        return None
    parsed = c.parse_name(endpoint.name, "endpoints")
    return Route(parsed.project, parsed.location, parsed.resource_id, endpoint.display_name, tuple(weighted))


def model_failed(target: Target) -> ApiError:
    """The error of a simulated model failure (INTERNAL, HTTP 500)."""
    return ApiError(
        grpc.StatusCode.INTERNAL,
        f"Prediction failed: the model of DeployedModel {target.deployed_model_id} returned HTTP 500.",
    )


class PredictionService:
    """The emulated PredictionService."""

    def __init__(
        self,
        store: StateStore,
        recorder: PredictionRecorder | None = None,
        *,
        real_latency: bool = False,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.real_latency = real_latency
        self.clock = clock
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def methods(self) -> Iterable[RpcMethod]:
        """The RPCs of this service."""
        return [RpcMethod(SERVICE, "Predict", v1.PredictRequest, v1.PredictResponse, self.predict)]

    def route(self, endpoint_name: str) -> tuple[Route, Target, float, bool]:
        """Route one request by the endpoint's live split: (route, target, simulated latency in ms, whether
        it fails). NOT_FOUND for an unknown endpoint, FAILED_PRECONDITION when no model gets traffic.
        Predict, RawPredict and the streaming methods all route through here."""
        with self.store.transaction(write=False) as state:
            endpoint = state.endpoints.get(endpoint_name)
            if endpoint is None:
                c.parse_name(endpoint_name, "endpoints")
                raise c.not_found("Endpoint", endpoint_name)
            route = route_of(state, endpoint)
        if route is None:
            raise c.failed_precondition(f"Endpoint {endpoint_name} has no deployed model receiving traffic.")
        with self._rng_lock:
            target = route.pick(self._rng.random())
            latency_ms, failed = target.behaviour.draw(self._rng)
        return route, target, latency_ms, failed

    def predict(self, request: v1.PredictRequest) -> v1.PredictResponse:
        """Predict: route by the split, simulate the model, record, echo the instances."""
        route, target, latency_ms, failed = self.route(request.endpoint)
        if self.real_latency:
            time.sleep(latency_ms / 1000)
        if self.recorder is not None:
            route.record(self.recorder, target, latency_ms=latency_ms, code=500 if failed else 200, at=self.clock())
        if failed:
            raise model_failed(target)
        raw = _RESPONSE_PB(
            deployed_model_id=target.deployed_model_id,
            model=target.model,
            model_version_id=target.model_version_id,
            model_display_name=target.model_display_name,
        )
        raw.predictions.extend(v1.PredictRequest.pb(request).instances)
        response: v1.PredictResponse = v1.PredictResponse.wrap(raw)
        return response
