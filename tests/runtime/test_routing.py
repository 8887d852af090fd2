"""Which adapter serves a model name, and Endpoint Predict reaches each endpoint through its own region."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format, struct_pb2

from controller.errors import PermanentError
from controller.providers.endpoint_model import EndpointModel, instance_of
from controller.providers.runtime_models import VertexModels
from controller.runtime.model import ModelAnswer, ModelRequest
from controller.runtime.records import Usage

TUNED = "projects/p/locations/us-central1/endpoints/tuned"


class Named:
    def __init__(self, name: str) -> None:
        self.name = name

    def generate(self, request: ModelRequest) -> ModelAnswer:
        return ModelAnswer(self.name)


@pytest.mark.parametrize(
    ("model", "adapter"),
    [
        ("publishers/google/models/gemini-2.5-flash", "gemini"),
        ("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash", "gemini"),
        ("gemini-2.5-flash", "gemini"),
        ("projects/p/locations/europe-west4/endpoints/chat", "endpoints"),
        (TUNED, "gemini"),
        ("alias", "endpoints"),
    ],
)
def test_models_are_routed_by_name(model: str, adapter: str) -> None:
    router = VertexModels(
        gemini=Named("gemini"),
        endpoints=Named("endpoints"),
        gemini_endpoints=[TUNED],
        aliases={"alias": "projects/p/locations/us-central1/endpoints/chat"},
    )
    assert router.model_for(model).generate(ModelRequest(model=model, text="")).text == adapter


def test_a_name_no_adapter_serves_is_an_error() -> None:
    with pytest.raises(PermanentError, match="no Endpoint Predict adapter"):
        VertexModels(gemini=Named("g")).model_for("projects/p/locations/l/endpoints/e")
    with pytest.raises(PermanentError, match="cannot call"):
        VertexModels(gemini=Named("g")).model_for("projects/p/locations/l/models/m")


class FakePrediction:
    def __init__(self, region: str) -> None:
        self.region = region
        self.calls: list[dict[str, Any]] = []

    def predict(self, *, endpoint: str, instances: list[Any], timeout: float) -> Any:
        self.calls.append({"endpoint": endpoint, "instances": instances, "timeout": timeout})
        prediction = struct_pb2.Value()
        json_format.ParseDict(
            {"content": f"from {self.region}", "usage": {"prompt_tokens": 7, "completion_tokens": 3}}, prediction
        )
        response = v1.PredictResponse(model_version_id="2")
        v1.PredictResponse.pb(response).predictions.append(prediction)
        return response


def test_each_endpoint_is_called_through_a_client_for_its_region() -> None:
    made: dict[str, FakePrediction] = {}

    def client_for(region: str) -> FakePrediction:
        made[region] = FakePrediction(region)
        return made[region]

    model = EndpointModel(client_for_region=client_for)
    for region in ("us-central1", "europe-west4", "us-central1"):
        answer = model.generate(ModelRequest(model=f"projects/p/locations/{region}/endpoints/e", text="hi"))
        assert answer.text == f"from {region}"
    assert sorted(made) == ["europe-west4", "us-central1"] and len(made["us-central1"].calls) == 2
    assert answer.usage == Usage(7, 3) and answer.model_version == "2"


def test_the_predict_instance_follows_the_prompts_test_live_convention() -> None:
    request = ModelRequest(
        model="e",
        text="Answer hi",
        system_instruction="Be brief.",
        generation_config={"temperature": 0.0, "maxOutputTokens": 64, "stopSequences": ["END"]},
    )
    assert instance_of(request) == {
        "prompt": "Be brief.\n\nAnswer hi",
        "temperature": 0.0,
        "max_tokens": 64,
        "stop": ["END"],
    }


def test_an_endpoint_model_takes_one_client_or_a_factory() -> None:
    with pytest.raises(ValueError):
        EndpointModel()
