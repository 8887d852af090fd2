"""A prompt that names an open Model Garden model (registered with `deploy` and served on an Endpoint) is
sent to that endpoint, never to the publisher's generateContent; a Google publisher model still is."""

from __future__ import annotations

from typing import Any

from controller.model import Endpoint, Model
from controller.prompts.models import vertex_model


def _model(name: str, spec: dict[str, Any]) -> Model:
    return Model.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Model", "metadata": {"name": name}, "spec": spec}
    )


def _endpoint(model: str) -> Endpoint:
    return Endpoint.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Endpoint",
            "metadata": {"name": "llm-chat"},
            "spec": {
                "region": "us-central1",
                "deployments": [
                    {
                        "name": "primary",
                        "model": model,
                        "machineType": "g2-standard-12",
                        "accelerator": {"type": "NVIDIA_L4", "count": 1},
                    }
                ],
                "traffic": {"primary": 100},
            },
        }
    )


def test_a_prompt_naming_an_open_model_goes_to_the_endpoint_that_serves_it() -> None:
    llama = _model(
        "llama", {"publisher": "publishers/meta/models/llama3_1@llama-3.1-8b-instruct", "deploy": {"acceptEula": True}}
    )
    assert vertex_model("llama", [llama, _endpoint("llama")]) == "locations/us-central1/endpoints/llm-chat"


def test_a_prompt_naming_a_google_publisher_model_still_calls_the_publisher() -> None:
    gemini = _model("flash", {"publisher": "publishers/google/models/gemini-2.0-flash"})
    assert vertex_model("flash", [gemini]) == "publishers/google/models/gemini-2.0-flash"
