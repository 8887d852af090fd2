"""The live model behind `genaiops prompts test --live`: sends a rendered prompt to Vertex AI's
PredictionService (aiplatform_v1, over gRPC) and returns the response text.

An Endpoint gets `Predict` with one instance (`controller.prompts.live.predict_instance`); the response
text is the first prediction when it is a string, its `content` / `text` / `output` field when it is a
mapping with one, else the prediction as JSON. (The local emulator echoes instances, so there the
response is the JSON of the instance, which holds the rendered prompt.) A publisher model gets
`GenerateContent`; the text is the first candidate's text parts. An Endpoint serving chat models
(`LiveTarget.endpoint_api` chatCompletions: an open model, or `endpointApi: chatCompletions`) gets
`RawPredict` with the OpenAI chat-completion body the runtime client sends (`open_model.chat_body`), and
its answer is read as the runtime client reads it (`open_model.answer_of`: `choices[0].message.content`).
Google errors leave as `controller.errors` types; a 404 from a publisher model the model catalogue dates is
the runtime client's `ModelRetiredError` (its last day and successor), so a test says what the application
would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.prediction_service.transports.grpc import PredictionServiceGrpcTransport
from google.protobuf import json_format

from controller.errors import PermanentError
from controller.prompts.live import LiveTarget, generation_config, predict_instance
from controller.prompts.render import RenderedPrompt
from controller.providers.google_errors import translated
from controller.providers.open_model import answer_of, chat_body
from controller.runtime.model import ModelRequest

__all__ = ["VertexPromptModel", "prediction_client"]
_TEXT_FIELDS = ("content", "text", "output")


def prediction_client(*, region: str, channel: grpc.Channel | None = None) -> Any:
    """A PredictionServiceClient on `channel` (an emulator), else on `{region}-aiplatform.googleapis.com`."""
    if channel is not None:
        return v1.PredictionServiceClient(transport=PredictionServiceGrpcTransport(channel=channel))
    return v1.PredictionServiceClient(client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"})


def text_of(prediction: Any) -> str:
    """The text of a Predict answer: a string, a `content`/`text`/`output` field, or its JSON."""
    if isinstance(prediction, str):
        return prediction
    if isinstance(prediction, Mapping):
        for name in _TEXT_FIELDS:
            if isinstance(prediction.get(name), str):
                return str(prediction[name])
    return json.dumps(prediction, ensure_ascii=False, sort_keys=True)


class VertexPromptModel:
    """A `Responder`: rendered prompt in, response text out, from one endpoint or publisher model."""

    def __init__(self, client: Any, target: LiveTarget, *, timeout_s: float = 60.0) -> None:
        self._client = client
        self.target = target
        self._timeout_s = timeout_s

    def __call__(self, rendered: RenderedPrompt) -> str:
        """Send the prompt; return the response text."""
        if self.target.kind == "endpoint" and self.target.endpoint_api == "chatCompletions":
            return self._chat(rendered)
        if self.target.kind == "endpoint":
            return self._predict(rendered)
        return self._generate(rendered)

    def _predict(self, rendered: RenderedPrompt) -> str:
        with translated(f"Predict on {self.target.resource}"):
            response = self._client.predict(
                endpoint=self.target.resource, instances=[predict_instance(rendered)], timeout=self._timeout_s
            )
        raw = v1.PredictResponse.pb(response)
        predictions = [json_format.MessageToDict(p) for p in raw.predictions]
        if not predictions:
            raise PermanentError(f"{self.target.resource} returned no prediction")
        return text_of(predictions[0])

    def _chat(self, rendered: RenderedPrompt) -> str:
        request = ModelRequest(
            model=self.target.resource,
            text=rendered.text,
            system_instruction=rendered.system_instruction,
            generation_config=rendered.generation_config,
            timeout_s=self._timeout_s,
        )
        body = httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(chat_body(request)).encode())
        what = f"RawPredict (chat completions) on {self.target.resource}"
        with translated(what):
            response = self._client.raw_predict(endpoint=self.target.resource, http_body=body, timeout=self._timeout_s)
        try:
            payload = json.loads(response.data or b"")
        except ValueError as err:
            raise PermanentError(f"{what}: the answer ({len(response.data)} bytes) is not JSON ({err})") from None
        return answer_of(payload, what=what).text

    def _generate(self, rendered: RenderedPrompt) -> str:
        request: dict[str, Any] = {
            "model": self.target.resource,
            "contents": [{"role": "user", "parts": [{"text": rendered.text}]}],
            "generation_config": generation_config(rendered),
        }
        if rendered.system_instruction:
            request["system_instruction"] = {"parts": [{"text": rendered.system_instruction}]}
        what = f"GenerateContent on {self.target.resource}"
        try:
            with translated(what, model=self.target.resource):
                response = self._client.generate_content(request=request, timeout=self._timeout_s)
        except PermanentError as err:
            if isinstance(err.__cause__, gexc.MethodNotImplemented):
                raise PermanentError(
                    f"{err} (this server does not serve publisher models, as the local emulator does not: "
                    "pass --endpoint to test against an Endpoint)"
                ) from err
            raise
        if not response.candidates:
            raise PermanentError(f"{self.target.resource} returned no candidate")
        return "".join(part.text for part in response.candidates[0].content.parts)
