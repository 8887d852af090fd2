"""Open models on Vertex AI endpoints for the runtime client: a model served by a vLLM or TGI container (a
Model Garden open model, or an uploaded model whose Model manifest says `endpointApi: chatCompletions`)
takes OpenAI chat-completion bodies on the endpoint's raw routes, over plain REST (httpx):

- `generate`: `POST /v1/{endpoint}:rawPredict` with the chat body; the answer is a `chat.completion`
  (`choices[0].message.content`, `finish_reason`, `usage`);
- `stream`: `POST /v1/{endpoint}:streamRawPredict` with `"stream": true` and
  `"stream_options": {"include_usage": true}`; the answer is server-sent events, `data: {chat.completion.chunk}`
  each, ending with `data: [DONE]`. Every chunk with text becomes a `ModelAnswer(text=delta)`; a last
  `ModelAnswer("")` carries the finish reason and the usage chunk's token counts.

The body: the system instruction is a `system` message, the rendered text a `user` message, and the
generation config maps `maxOutputTokens` -> `max_tokens`, `temperature`, `topP` -> `top_p`, `topK` -> `top_k`,
`stopSequences` -> `stop`, `seed`, `presencePenalty` / `frequencyPenalty` (other Gemini-only fields are
not sent; the table: `controller.prompts.live.OPENAI_PARAMETERS`). Token usage is the response's own
(`prompt_tokens`, `completion_tokens`), never an estimate;
`deployed_model_id` is the `X-Vertex-AI-Deployed-Model-Id` response header (which deployed model of the
endpoint's traffic split answered). Finish reasons take Gemini's names: stop -> STOP, length -> MAX_TOKENS,
content_filter -> SAFETY.

Errors leave as the runtime's types through `genai_model.translate` (the same mapping as Gemini's):
429 -> RateLimitedError, 408 / 504 / a timeout -> ModelTimeoutError, other 5xx and transport failures ->
TransientError, 404 -> NotFoundError, anything else (a malformed request, an endpoint with no model
deployed) -> PermanentError with the API's message.

    model = ChatEndpointModel()                                      # Google Cloud: ADC, {region}-aiplatform
    model = ChatEndpointModel(base_url=emulator.rest_endpoint)      # the genaiops emulator
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import httpx
from google.genai import errors as genai_errors

from controller.errors import PermanentError
from controller.prompts.live import OPENAI_PARAMETERS
from controller.providers.genai_model import EMULATOR_TOKEN, translate
from controller.runtime.model import ModelAnswer, ModelRequest, endpoint_parts
from controller.runtime.records import Usage

__all__ = ["ChatEndpointModel", "answer_of", "chat_body", "described", "finish_reason_of", "usage_of"]

DEPLOYED_MODEL_HEADER = "X-Vertex-AI-Deployed-Model-Id"
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP"}


def chat_body(request: ModelRequest, *, stream: bool = False) -> dict[str, Any]:
    """The OpenAI chat-completion body of a request (see the module docstring)."""
    messages: list[dict[str, str]] = []
    if request.system_instruction:
        messages.append({"role": "system", "content": request.system_instruction})
    messages.append({"role": "user", "content": request.text})
    body: dict[str, Any] = {"messages": messages}
    config = request.generation_config
    for ours, theirs in OPENAI_PARAMETERS:
        value = config.get(ours)
        if value not in (None, [], ()):
            body[theirs] = list(value) if isinstance(value, tuple) else value
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def usage_of(payload: Any) -> Usage | None:
    """Usage from OpenAI's `usage` object of an answer, a chunk or a Predict prediction (None when it has
    none)."""
    usage = payload.get("usage") if isinstance(payload, Mapping) else None
    if not isinstance(usage, Mapping):
        return None
    try:
        return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
    except (TypeError, ValueError):
        return None


def described(payload: Any) -> str:
    """What an unexpected answer is, without its content (a model may echo the prompt, and errors are
    logged): its JSON type and keys, and the API error's own `error.message` when it has one."""
    if not isinstance(payload, Mapping):
        return f"a JSON {type(payload).__name__}"
    text = f"an object with keys {sorted(str(key) for key in payload)}"
    error = payload.get("error")
    message = error.get("message") if isinstance(error, Mapping) else None
    return f"{text}; error: {message}" if isinstance(message, str) and message else text


def finish_reason_of(reason: Any) -> str | None:
    """OpenAI's finish reason under Gemini's name (an unknown one upper-cased)."""
    if not isinstance(reason, str) or not reason:
        return None
    return _FINISH.get(reason, reason.upper())


def answer_of(payload: Any, *, what: str, deployed_model_id: str | None = None) -> ModelAnswer:
    """A ModelAnswer from a whole `chat.completion`; PermanentError when it holds no choice."""
    choices = payload.get("choices") if isinstance(payload, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise PermanentError(f"{what}: the answer holds no chat completion choice ({described(payload)})")
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    return ModelAnswer(
        text=content if isinstance(content, str) else "",
        usage=usage_of(payload),
        finish_reason=finish_reason_of(choices[0].get("finish_reason")),
        deployed_model_id=deployed_model_id,
    )


class _Chunks:
    """Server-sent `chat.completion.chunk` events -> ModelAnswers (text deltas, then one closing answer)."""

    def __init__(self, what: str, deployed_model_id: str | None) -> None:
        self.what = what
        self.deployed_model_id = deployed_model_id
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.done = False

    def feed(self, line: str) -> ModelAnswer | None:
        """One line of the event stream; the answer it carries, if any."""
        if not line.startswith("data:") or self.done:
            return None
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            self.done = True
            return None
        try:
            chunk = json.loads(data)
        except ValueError as err:
            raise PermanentError(f"{self.what}: an event of {len(data)} characters is not JSON ({err})") from None
        if not isinstance(chunk, Mapping):
            return None
        self.usage = usage_of(chunk) or self.usage
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            return None
        choice = choices[0]
        self.finish_reason = finish_reason_of(choice.get("finish_reason")) or self.finish_reason
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, Mapping) else None
        if not isinstance(text, str) or not text:
            return None
        return ModelAnswer(text=text, deployed_model_id=self.deployed_model_id)

    def last(self) -> ModelAnswer:
        """The closing answer: no text, the finish reason and the usage."""
        return ModelAnswer("", self.usage, self.finish_reason, deployed_model_id=self.deployed_model_id)


def _error_of(response: httpx.Response, what: str, model: str) -> Exception:
    """The runtime error for an HTTP error answer (read already, when streamed): google-genai's APIError
    for it (Google's `{"error": {code, message, status}}`) through `genai_model.translate`. A body that is
    not JSON is told by its length, never its text."""
    try:
        genai_errors.APIError.raise_for_response(response)
    except genai_errors.APIError as err:
        try:
            json.loads(response.content)
        except ValueError:
            err.message = f"an answer of {len(response.content)} bytes that is not JSON"
        return translate(err, what=what, model=model)
    return PermanentError(f"{what}: HTTP {response.status_code}")


class ChatEndpointModel:
    """A runtime model (sync, streaming and async) for endpoints serving OpenAI chat completions.

    base_url: the genaiops emulator's REST endpoint (a fixed bearer token is sent); default: each
        endpoint's regional host, `https://{region}-aiplatform.googleapis.com`, with Application Default
        Credentials, refreshed when they expire.
    """

    def __init__(self, base_url: str | None = None) -> None:
        self._base_url = base_url.rstrip("/") if base_url else None
        self._credentials: Any = None
        self._http = httpx.Client()
        self._async_http = httpx.AsyncClient()
        self._lock = threading.Lock()

    # -- where and as whom --------------------------------------------------------------------------------
    def url(self, endpoint: str, method: str) -> str:
        """The URL of `endpoint`'s `:rawPredict` / `:streamRawPredict`."""
        base = self._base_url
        if base is None:
            parts = endpoint_parts(endpoint)
            if parts is None:
                raise PermanentError(f"{endpoint!r} is not an endpoint (projects/P/locations/L/endpoints/E)")
            base = f"https://{parts[0]}-aiplatform.googleapis.com"
        return f"{base}/v1/{endpoint}:{method}"

    def _token(self) -> str:
        if self._base_url is not None:
            return EMULATOR_TOKEN
        import google.auth
        from google.auth.transport.requests import Request

        with self._lock:
            if self._credentials is None:
                self._credentials, _ = google.auth.default(scopes=list(_SCOPES))
            if not self._credentials.valid:
                self._credentials.refresh(Request())
            return str(self._credentials.token)

    async def _atoken(self) -> str:
        """The token for the async path: the emulator's or a still valid one at once, else `_token` (which
        may call `google.auth.default()` and refresh over the network) in a worker thread, off the loop."""
        if self._base_url is not None:
            return EMULATOR_TOKEN
        credentials = self._credentials
        if credentials is not None and credentials.valid:
            return str(credentials.token)
        return await asyncio.to_thread(self._token)

    @staticmethod
    def _headers_with(token: str, *, stream: bool) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }

    def _headers(self, *, stream: bool) -> dict[str, str]:
        return self._headers_with(self._token(), stream=stream)

    async def _aheaders(self, *, stream: bool) -> dict[str, str]:
        return self._headers_with(await self._atoken(), stream=stream)

    @staticmethod
    def _what(request: ModelRequest, method: str) -> str:
        return f"{method} (chat completions) on {request.model}"

    # -- sync ----------------------------------------------------------------------------------------------
    def generate(self, request: ModelRequest) -> ModelAnswer:
        """One `:rawPredict` call with a chat-completion body."""
        what = self._what(request, "RawPredict")
        try:
            response = self._http.post(
                self.url(request.model, "rawPredict"),
                json=chat_body(request),
                headers=self._headers(stream=False),
                timeout=request.timeout_s,
            )
        except httpx.HTTPError as err:
            raise translate(err, what=what) from err
        if response.is_error:
            raise _error_of(response, what, request.model)
        return _whole(response, what)

    def stream(self, request: ModelRequest) -> Iterator[ModelAnswer]:
        """`:streamRawPredict`: one ModelAnswer per text delta, then one with the finish reason and usage."""
        what = self._what(request, "StreamRawPredict")
        body = chat_body(request, stream=True)
        try:
            with self._http.stream(
                "POST",
                self.url(request.model, "streamRawPredict"),
                json=body,
                headers=self._headers(stream=True),
                timeout=request.timeout_s,
            ) as response:
                if response.is_error:
                    response.read()
                    raise _error_of(response, what, request.model)
                if not _is_sse(response):  # a container that answered the whole completion at once
                    response.read()
                    yield _whole(response, what)
                    return
                yield from _events(response.iter_lines(), response, what)
        except httpx.HTTPError as err:
            raise translate(err, what=what) from err

    # -- async ---------------------------------------------------------------------------------------------
    async def agenerate(self, request: ModelRequest) -> ModelAnswer:
        """One `:rawPredict` call, awaited."""
        what = self._what(request, "RawPredict")
        try:
            response = await self._async_http.post(
                self.url(request.model, "rawPredict"),
                json=chat_body(request),
                headers=await self._aheaders(stream=False),
                timeout=request.timeout_s,
            )
        except httpx.HTTPError as err:
            raise translate(err, what=what) from err
        if response.is_error:
            raise _error_of(response, what, request.model)
        return _whole(response, what)

    async def astream(self, request: ModelRequest) -> AsyncIterator[ModelAnswer]:
        """`:streamRawPredict`, awaited event by event."""
        what = self._what(request, "StreamRawPredict")
        try:
            async with self._async_http.stream(
                "POST",
                self.url(request.model, "streamRawPredict"),
                json=chat_body(request, stream=True),
                headers=await self._aheaders(stream=True),
                timeout=request.timeout_s,
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise _error_of(response, what, request.model)
                if not _is_sse(response):  # a container that answered the whole completion at once
                    await response.aread()
                    yield _whole(response, what)
                    return
                chunks = _Chunks(what, response.headers.get(DEPLOYED_MODEL_HEADER))
                async for line in response.aiter_lines():
                    answer = chunks.feed(line)
                    if answer is not None:
                        yield answer
                yield chunks.last()
        except httpx.HTTPError as err:
            raise translate(err, what=what) from err

    def close(self) -> None:
        """Close the sync HTTP client (the async one is closed by `aclose`)."""
        self._http.close()

    async def aclose(self) -> None:
        """Close both HTTP clients."""
        self._http.close()
        await self._async_http.aclose()


def _is_sse(response: httpx.Response) -> bool:
    return str(response.headers.get("content-type", "")).startswith("text/event-stream")


def _whole(response: httpx.Response, what: str) -> ModelAnswer:
    try:
        payload = json.loads(response.content)
    except ValueError as err:
        raise PermanentError(f"{what}: the answer ({len(response.content)} bytes) is not JSON ({err})") from None
    return answer_of(payload, what=what, deployed_model_id=response.headers.get(DEPLOYED_MODEL_HEADER))


def _events(lines: Iterable[str], response: httpx.Response, what: str) -> Iterator[ModelAnswer]:
    chunks = _Chunks(what, response.headers.get(DEPLOYED_MODEL_HEADER))
    for line in lines:
        answer = chunks.feed(line)
        if answer is not None:
            yield answer
    yield chunks.last()
