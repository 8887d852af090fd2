"""Which adapter serves a model name, for the runtime client (`ModelRouter`), and the one-call wiring of
both adapters for a project, or for the genaiops emulator:

- `publishers/*/models/*`, `projects/*/locations/*/publishers/*/models/*` and bare Gemini names
  (`gemini-3.5-flash`) -> Gemini through google-genai (`genai_model.GeminiModel`);
- `projects/*/locations/*/endpoints/*` -> Endpoint Predict (`endpoint_model.EndpointModel`), unless the
  endpoint is listed in `gemini_endpoints` (a tuned Gemini model's endpoint answers GenerateContent) or in
  `chat_endpoints` (an open model's endpoint answers OpenAI chat completions on :rawPredict /
  :streamRawPredict: `open_model.ChatEndpointModel`, which streams). The chat endpoints are those the
  manifests say serve chat models (`controller.prompts.models.chat_endpoints(manifests, project)`).

    models = vertex_models(project="my-project", location="us-central1")
    models = vertex_models(project="local-project", location="us-central1",
                           grpc_target=emulator.grpc_target, genai_base_url=emulator.rest_endpoint)
    models = vertex_models(project="my-project", location="us-central1",
                           chat_endpoints=chat_endpoints(manifests, "my-project"))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from controller.errors import PermanentError
from controller.providers.connections import plain_channel
from controller.providers.endpoint_model import EndpointModel
from controller.providers.genai_model import GeminiModel, gemini_client
from controller.providers.open_model import ChatEndpointModel
from controller.providers.prompt_live import prediction_client
from controller.runtime.model import EndpointApi, TextModel

__all__ = ["VertexModels", "vertex_models"]


class VertexModels:
    """A `ModelRouter` over a Gemini adapter, an Endpoint Predict adapter and a chat-completions adapter
    (any may be absent)."""

    def __init__(
        self,
        *,
        gemini: TextModel | None = None,
        endpoints: TextModel | None = None,
        chat: TextModel | None = None,
        gemini_endpoints: Collection[str] = (),
        chat_endpoints: Collection[str] = (),
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self._gemini, self._endpoints, self._chat = gemini, endpoints, chat
        self._gemini_endpoints = frozenset(gemini_endpoints)
        self._chat_endpoints = frozenset(chat_endpoints)
        self._aliases = dict(aliases or {})

    def model_for(self, name: str, *, api: EndpointApi | None = None) -> TextModel:
        """The adapter for `name` (PermanentError when none is configured for its kind). `api` is how the
        prompt version recorded the endpoint is called; None decides by the name (`gemini_endpoints`,
        `chat_endpoints`, else Predict for an endpoint)."""
        name = self._aliases.get(name, name)
        endpoint = "/endpoints/" in name
        if endpoint and api is None:
            if name in self._gemini_endpoints:
                api = "generateContent"
            elif name in self._chat_endpoints:
                api = "chatCompletions"
            else:
                api = "predict"
        if endpoint and api == "chatCompletions":
            if self._chat is None:
                raise PermanentError(f"no chat-completions adapter configured for {name}")
            return self._chat
        if endpoint and api == "predict":
            if self._endpoints is None:
                raise PermanentError(f"no Endpoint Predict adapter configured for {name}")
            return self._endpoints
        if "/endpoints/" in name or "publishers/" in name or "/" not in name:
            if self._gemini is None:
                raise PermanentError(f"no Gemini adapter configured for {name}")
            return self._gemini
        raise PermanentError(
            f"cannot call {name!r}: expected publishers/.../models/M, a Gemini model name, or "
            "projects/P/locations/R/endpoints/E"
        )

    def close(self) -> None:
        """Close the chat-completions adapter's sync HTTP client (the application owns the router: the
        runtime client does not close it, as it does not close its recorder)."""
        if isinstance(self._chat, ChatEndpointModel):
            self._chat.close()

    async def aclose(self) -> None:
        """Close the chat-completions adapter's HTTP clients, sync and async."""
        if isinstance(self._chat, ChatEndpointModel):
            await self._chat.aclose()


def vertex_models(
    *,
    project: str,
    location: str,
    grpc_target: str | None = None,
    genai_base_url: str | None = None,
    gemini_endpoints: Collection[str] = (),
    chat_endpoints: Collection[str] = (),
) -> VertexModels:
    """The three adapters for a project: on Google Cloud by default (Gemini in `location`, which may be
    `global`; each endpoint through its own region's host, chat completions with Application Default
    Credentials), or on an emulator (`grpc_target` HOST:PORT for Predict, `genai_base_url` http://HOST:PORT
    for google-genai and the chat endpoints' REST routes). `chat_endpoints`: full endpoint names
    (`projects/P/locations/R/endpoints/E`) called with chat completions."""
    if grpc_target:
        endpoints = EndpointModel(prediction_client(region=location, channel=plain_channel(grpc_target)))
    else:
        endpoints = EndpointModel(client_for_region=lambda region: prediction_client(region=region or location))
    client = gemini_client(project=project, location=location, base_url=genai_base_url)
    return VertexModels(
        gemini=GeminiModel(client),
        endpoints=endpoints,
        chat=ChatEndpointModel(base_url=genai_base_url),
        gemini_endpoints=gemini_endpoints,
        chat_endpoints=chat_endpoints,
    )
