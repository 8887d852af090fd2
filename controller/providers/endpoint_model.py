"""Registry models for the runtime client: Endpoint Predict (aiplatform_v1 PredictionService over gRPC),
in the convention `genaiops prompts test --live` uses (`controller.prompts.live.predict_instance`: one
instance with `prompt`, `max_tokens`, `temperature`, `top_p`, `top_k`, `stop`; the system instruction
prepended to the prompt). The answer is the first prediction when it is a string, its `content` /
`text` / `output` field when it is a mapping with one, else the prediction as JSON. Token usage comes
from the prediction's `usage` mapping when the serving container reports one (OpenAI style
`prompt_tokens` / `completion_tokens`), else the client estimates it. Errors leave as
`controller.errors` types: 429 -> RateLimitedError, deadline -> ModelTimeoutError, 5xx -> TransientError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.protobuf import json_format

from controller.errors import GenaiopsError, PermanentError
from controller.prompts.live import predict_instance
from controller.prompts.render import RenderedPrompt
from controller.providers.google_errors import translate
from controller.providers.open_model import usage_of
from controller.providers.prompt_live import text_of
from controller.runtime.failures import ModelTimeoutError, RateLimitedError
from controller.runtime.model import ModelAnswer, ModelRequest, endpoint_parts

__all__ = ["EndpointModel", "instance_of"]


def instance_of(request: ModelRequest) -> dict[str, Any]:
    """The Predict instance of a request."""
    rendered = RenderedPrompt(
        name="",
        text=request.text,
        model=request.model,
        system_instruction=request.system_instruction,
        generation_config=request.generation_config,
    )
    return predict_instance(rendered)


def _translate(err: gexc.GoogleAPIError, what: str) -> GenaiopsError:
    message = f"{what}: {getattr(err, 'message', None) or err}"
    if isinstance(err, gexc.TooManyRequests | gexc.ResourceExhausted):
        return RateLimitedError(message)
    if isinstance(err, gexc.DeadlineExceeded | gexc.GatewayTimeout):
        return ModelTimeoutError(message)
    return translate(err, what=what)


class EndpointModel:
    """A runtime model that calls Predict on the endpoint named by the request's model."""

    def __init__(self, prediction_client: Any = None, *, client_for_region: Callable[[str], Any] | None = None) -> None:
        """`prediction_client`: one aiplatform_v1.PredictionServiceClient for every endpoint (an emulator's
        channel); or `client_for_region`, called once per region (Vertex AI serves an endpoint from its
        region's host, `{region}-aiplatform.googleapis.com`)."""
        if (prediction_client is None) == (client_for_region is None):
            raise ValueError("pass either prediction_client or client_for_region")
        self._client = prediction_client
        self._client_for_region = client_for_region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client_for(self, endpoint: str) -> Any:
        if self._client is not None:
            return self._client
        parts = endpoint_parts(endpoint)
        region = parts[0] if parts else ""
        with self._lock:
            if region not in self._clients:
                assert self._client_for_region is not None
                self._clients[region] = self._client_for_region(region)
            return self._clients[region]

    def generate(self, request: ModelRequest) -> ModelAnswer:
        """One Predict call with one instance."""
        what = f"Predict on {request.model}"
        try:
            response = self._client_for(request.model).predict(
                endpoint=request.model, instances=[instance_of(request)], timeout=request.timeout_s
            )
        except gexc.GoogleAPIError as err:
            raise _translate(err, what) from err
        raw = v1.PredictResponse.pb(response)
        predictions = [json_format.MessageToDict(p) for p in raw.predictions]
        if not predictions:
            raise PermanentError(f"{request.model} returned no prediction")
        return ModelAnswer(
            text=text_of(predictions[0]),
            usage=usage_of(predictions[0]),
            model_version=raw.model_version_id or None,
        )
