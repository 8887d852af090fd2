"""Which Vertex AI resource `genaiops prompts test --live` sends a prompt to, and in what shape. Pure.

- A prompt whose model is a publisher model (`publishers/google/models/gemini-3.5-flash`, directly or
  through a `Model` manifest with `publisher:`) goes to that model's GenerateContent, in the Endpoint's
  region (us-central1 by default); the emulator serves it too (an echo with usage metadata).
- A prompt whose model is a registry `Model` goes to the Endpoint manifest that deploys it (the first one
  in load order), or to `--endpoint ID|RESOURCE_NAME`; PredictionService.Predict is called with one
  instance in the convention of Vertex's open-model serving containers (`prompt`, `max_tokens`,
  `temperature`, `top_p`, `top_k`, `stop`), the system instruction prepended to the prompt; unless the
  endpoint serves chat models (an open model from Model Garden, or `endpointApi: chatCompletions`:
  `controller.prompts.models.serves_chat`): then RawPredict is called with an OpenAI chat-completion body,
  as the runtime client's `controller/providers/open_model.py` sends it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from controller.errors import UserError
from controller.model import Endpoint, Manifest, Model, Prompt
from controller.prompts.models import EndpointApi, endpoint_serves_chat, serves_chat
from controller.prompts.render import RenderedPrompt

DEFAULT_REGION = "us-central1"
# The manifest's generation config (camelCase) -> OpenAI-style sampling parameters, as vLLM / TGI serving
# containers take them: the chat-completion body (controller/providers/open_model.py) sends them all, the
# Predict instance the first five (PREDICT_PARAMETERS).
OPENAI_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("maxOutputTokens", "max_tokens"),
    ("temperature", "temperature"),
    ("topP", "top_p"),
    ("topK", "top_k"),
    ("stopSequences", "stop"),
    ("seed", "seed"),
    ("presencePenalty", "presence_penalty"),
    ("frequencyPenalty", "frequency_penalty"),
)
PREDICT_PARAMETERS = OPENAI_PARAMETERS[:5]


@dataclass(frozen=True)
class LiveTarget:
    """A resource to send rendered prompts to."""

    kind: Literal["endpoint", "publisher"]
    resource: str  # projects/P/locations/R/endpoints/E or projects/P/locations/R/publishers/.../models/M
    # chatCompletions: an endpoint serving chat models (OpenAI chat completions on RawPredict, not Predict)
    endpoint_api: EndpointApi | None = None

    @property
    def region(self) -> str:
        """The region in the resource name."""
        return self.resource.split("/")[3]


def _endpoint_target(
    endpoint: str, manifests: Sequence[Manifest], project: str, region: str | None, *, model_ref: str
) -> LiveTarget:
    """The endpoint; it is called with chat completions when its manifest's deployments all serve chat
    models, or, for an endpoint no manifest declares, when the prompt's own model does."""
    short = endpoint.rsplit("/", 1)[-1]
    declared = next((m for m in manifests if isinstance(m, Endpoint) and m.metadata.name == short), None)
    chat = endpoint_serves_chat(declared, manifests) if declared else serves_chat(model_ref, manifests)
    api: EndpointApi | None = "chatCompletions" if chat else None
    if endpoint.startswith("projects/"):
        return LiveTarget("endpoint", endpoint, api)
    where = region or (declared.spec.region if declared else DEFAULT_REGION)
    return LiveTarget("endpoint", f"projects/{project}/locations/{where}/endpoints/{endpoint}", api)


def live_target(
    prompt: Prompt,
    manifests: Sequence[Manifest],
    *,
    project: str,
    endpoint: str | None = None,
    region: str | None = None,
) -> LiveTarget:
    """Where to send `prompt` (see the module docstring); UserError when nothing serves its model."""
    ref = prompt.spec.model
    if endpoint:
        return _endpoint_target(endpoint, manifests, project, region, model_ref=ref)
    if ref.startswith("publishers/"):
        return LiveTarget("publisher", f"projects/{project}/locations/{region or DEFAULT_REGION}/{ref}")
    name = ref.split("@", 1)[0]
    model = next((m for m in manifests if isinstance(m, Model) and m.metadata.name == name), None)
    if model is not None and model.spec.is_publisher and model.spec.publisher is not None:
        where = region or model.spec.region
        return LiveTarget("publisher", f"projects/{project}/locations/{where}/{model.spec.publisher}")
    for manifest in manifests:
        if isinstance(manifest, Endpoint) and any(d.model_name == name for d in manifest.spec.deployments):
            return _endpoint_target(manifest.metadata.name, manifests, project, region, model_ref=ref)
    raise UserError(
        f"prompt {prompt.metadata.name!r}: no Endpoint manifest deploys model {name!r}; "
        "declare one, or pass --endpoint ENDPOINT_ID to test against a running endpoint"
    )


def predict_instance(rendered: RenderedPrompt) -> dict[str, Any]:
    """The Predict instance for an endpoint serving an open model (vLLM-style serving container)."""
    text = rendered.text
    if rendered.system_instruction:
        text = f"{rendered.system_instruction}\n\n{text}"
    config = rendered.generation_config
    instance: dict[str, Any] = {"prompt": text}
    for ours, theirs in PREDICT_PARAMETERS:
        if config.get(ours) not in (None, [], ()):
            instance[theirs] = config[ours]
    return instance


def generation_config(rendered: RenderedPrompt) -> dict[str, Any]:
    """The GenerateContent generation config (snake_case fields of aiplatform_v1.GenerationConfig)."""
    names = {
        "temperature": "temperature",
        "maxOutputTokens": "max_output_tokens",
        "topP": "top_p",
        "topK": "top_k",
        "stopSequences": "stop_sequences",
        "responseMimeType": "response_mime_type",
        "responseSchema": "response_json_schema",
    }
    return {names[k]: v for k, v in rendered.generation_config.items() if k in names and v not in (None, [], ())}
