"""The emulated Vertex AI: state, EndpointService, ModelService, PredictionService (Predict, RawPredict,
StreamRawPredict, ServerStreamingPredict, an endpoint's chat completions, and Gemini's
GenerateContent / StreamGenerateContent), GenAiTuningService, PipelineService, ScheduleService,
ModelGardenService (GetPublisherModel), Operations.

`VertexServices` builds them all over one `StateStore` (one lock, optional JSON file), ready to be put on
the wire by `grpc_adapter.build_server` (and the REST gateway).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from controller.emulator.api import RpcMethod
from controller.emulator.calendar import Calendar
from controller.emulator.vertex.endpoints import EndpointService
from controller.emulator.vertex.generate import GenerateService, GenerationRecorder
from controller.emulator.vertex.model_garden import ModelGardenService
from controller.emulator.vertex.models import ModelService
from controller.emulator.vertex.operations import OperationsService
from controller.emulator.vertex.pipelines import PipelineService
from controller.emulator.vertex.prediction import PredictionRecorder, PredictionService, Route, Target, route_of
from controller.emulator.vertex.raw_prediction import RawPredictionService
from controller.emulator.vertex.schedules import ScheduleService
from controller.emulator.vertex.state import CloudState
from controller.emulator.vertex.store import StateStore
from controller.emulator.vertex.tuning import DEFAULT_DURATION_S, ObjectReader, TuningService

__all__ = [
    "CloudState",
    "EndpointService",
    "GenerateService",
    "GenerationRecorder",
    "ModelGardenService",
    "ModelService",
    "OperationsService",
    "PipelineService",
    "PredictionRecorder",
    "PredictionService",
    "Route",
    "ScheduleService",
    "StateStore",
    "Target",
    "TuningService",
    "VertexServices",
    "route_of",
]


class VertexServices:
    """All emulated Vertex AI services sharing one store."""

    def __init__(
        self,
        *,
        state_path: Path | None = None,
        recorder: PredictionRecorder | None = None,
        generation_recorder: GenerationRecorder | None = None,
        lro_delay_s: float | dict[str, float] = 0.0,
        seed: int = 0,
        real_latency: bool = False,
        gemini_models: Mapping[str, str] | None = None,
        calendar: Calendar | None = None,
        tuning_duration_s: float = DEFAULT_DURATION_S,
        pipeline_duration_s: float = DEFAULT_DURATION_S,
        read_object: ObjectReader | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`tuning_duration_s` / `pipeline_duration_s`: how long a tuning job / pipeline run takes on `clock`;
        `read_object` reads the emulator's Cloud Storage (tuning datasets are checked and read through it).
        `calendar`: the day publisher-model retirement is judged on (default: GENAIOPS_TODAY, else the UTC date
        of `clock`)."""
        self.calendar = calendar if calendar is not None else Calendar(clock=clock)
        self.store = StateStore(path=state_path, clock=clock, seed=seed, lro_delay_s=lro_delay_s)
        self.endpoints = EndpointService(self.store)
        self.models = ModelService(self.store)
        self.operations = OperationsService(self.store)
        self.tuning = TuningService(
            self.store,
            duration_s=tuning_duration_s,
            gemini_models=gemini_models,
            read_object=read_object,
            calendar=self.calendar,
        )
        self.pipelines = PipelineService(self.store, duration_s=pipeline_duration_s)
        self.schedules = ScheduleService(self.store)
        self.model_garden = ModelGardenService()
        self.prediction = PredictionService(self.store, recorder, real_latency=real_latency, seed=seed + 1, clock=clock)
        self.raw_prediction = RawPredictionService(self.prediction, seed=seed + 4)
        self.generate = GenerateService(
            self.store,
            recorder=generation_recorder,
            prediction_recorder=recorder,
            models=gemini_models,
            calendar=self.calendar,
            real_latency=real_latency,
            seed=seed + 3,
            clock=clock,
            tuned_text=self.tuning.tuned_text,
        )

    def methods(self) -> Iterable[RpcMethod]:
        """Every RPC of every Vertex service."""
        services = (self.endpoints, self.models, self.prediction, self.generate, self.tuning, self.pipelines)
        for service in (*services, self.raw_prediction, self.schedules, self.model_garden, self.operations):
            yield from service.methods()

    def create_calls(self) -> dict[str, int]:
        """How many CreateTuningJob / CreatePipelineJob / CreateSchedule calls reached the services (refused ones
        included)."""
        return {
            "CreateTuningJob": self.tuning.create_calls,
            "CreatePipelineJob": self.pipelines.create_calls,
            "CreateSchedule": self.schedules.create_calls,
        }
