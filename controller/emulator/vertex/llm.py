"""An emulated OpenAI-style chat model (what a vLLM or TGI serving container answers), pure.

A model whose artifact URI carries `llm=chat` answers OpenAI chat-completion bodies on RawPredict,
StreamRawPredict and the endpoint's `/chat/completions` route:

    gs://emulator-models/chat?llm=chat&ttft_ms=200&tokens_per_s=40&output_tokens=64&error_rate=0.01

- `ttft_ms`: time to the first token of an answer (default 0);
- `tokens_per_s`: pace of the stream after the first token (default 0: no wait between tokens);
- `output_tokens`: the answer's length in tokens (default: the echo of the last user message), padded or
  cut as Gemini's (`gemini.shaped`); a request's `max_tokens` cuts it further (finish_reason `length`);
- `error_rate` / `latency_ms` / `latency_jitter_ms`: as for every emulated model (`behaviour.py`).

Tokens are counted as everywhere in the emulator (`gemini.tokens`: one per four characters, rounded up);
a stream carries one word (with its leading space) per event, as vLLM sends one detokenized piece per
chunk. Streamed events follow OpenAI / vLLM: a first chunk with `delta.role`, one chunk per word with
`delta.content`, a last chunk with `finish_reason`, a usage chunk (empty `choices`) when
`stream_options.include_usage`, then `data: [DONE]`. This module decides what is said; `raw_prediction.py`
sleeps and sends it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from controller.emulator.behaviour import BEHAVIOUR_BUCKET, check_llm, number_param
from controller.emulator.vertex.gemini import shaped, tokens

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_WORD = re.compile(r"\s*\S+")


INVALID_JSON = "Invalid JSON payload received."  # how Vertex AI starts the message of a body that is not JSON


class ChatError(ValueError):
    """A malformed chat-completion body (the caller gets INVALID_ARGUMENT / HTTP 400 with this message)."""


@dataclass(frozen=True)
class LlmBehaviour:
    """How an emulated chat model answers and paces its tokens."""

    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0  # 0: no wait between tokens
    output_tokens: int = 0  # 0: the echo of the last user message

    def first_token_delay_s(self) -> float:
        """Seconds before the first token."""
        return self.ttft_ms / 1000

    def token_gap_s(self) -> float:
        """Seconds between two tokens after the first."""
        return 1 / self.tokens_per_s if self.tokens_per_s > 0 else 0.0

    def waits(self, pieces: int) -> list[float]:
        """The wait before each of `pieces` streamed pieces (at least one): the first token's delay, then
        the gap between tokens."""
        return [self.first_token_delay_s()] + [self.token_gap_s()] * (max(1, pieces) - 1)

    def generation_s(self, pieces: int) -> float:
        """How long producing `pieces` streamed pieces takes (the non-streamed answer waits as long)."""
        return sum(self.waits(pieces))


# Serving images whose containers speak OpenAI's chat completions (Model Garden's vLLM and Hugging Face TGI
# images, e.g. `.../vertex-vision-model-garden-dockers/pytorch-vllm-serve:...`): a model registered with one
# and no emulated behaviour in its artifact URI (Model Garden's open models have none) is a chat model.
OPENAI_SERVING_IMAGES = ("vllm", "tgi", "text-generation-inference")


def chat_behaviour(artifact_uri: str, image_uri: str = "") -> LlmBehaviour | None:
    """The chat behaviour of a deployed model: `llm=chat` in its artifact URI, else the defaults when its
    serving image is an OpenAI-compatible one (`OPENAI_SERVING_IMAGES`), else None (not a chat model)."""
    found = llm_behaviour(artifact_uri)
    if found is not None:
        return found
    image = image_uri.rsplit("/", 1)[-1].lower()
    return LlmBehaviour() if any(name in image for name in OPENAI_SERVING_IMAGES) else None


@functools.lru_cache(maxsize=1024)
def llm_behaviour(uri: str) -> LlmBehaviour | None:
    """The chat behaviour of a model with this artifact URI, or None when it is not an emulated LLM.
    A malformed parameter gives None too: `behaviour.parse_behaviour` reports it where URIs are checked."""
    parts = urlsplit(uri)
    if parts.scheme != "gs" or parts.netloc != BEHAVIOUR_BUCKET:
        return None
    params = parse_qs(parts.query, keep_blank_values=True)
    try:
        return llm_from(params, uri)
    except ValueError:
        return None


def llm_from(params: Mapping[str, list[str]], where: str) -> LlmBehaviour | None:
    """The chat behaviour in parsed URI parameters (None without `llm`); ValueError naming `where`."""
    numbers = check_llm(params, where)
    if numbers is None:
        return None
    output = number_param(params, "output_tokens", 0.0, where=where)
    if not output.is_integer():
        raise ValueError(f"output_tokens={params['output_tokens'][-1]!r} must be a whole number in {where!r}")
    ttft_ms, tokens_per_s = numbers
    return LlmBehaviour(ttft_ms=ttft_ms, tokens_per_s=tokens_per_s, output_tokens=int(output))


# ----------------------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat-completion body the emulated model reads."""

    prompt_texts: tuple[str, ...]  # every message's text, in order
    last_user_text: str
    max_tokens: int | None
    stream: bool
    include_usage: bool


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if not isinstance(content, list):
        raise ChatError(f"{where}.content must be a string or a list of content parts.")
    texts = []
    for n, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise ChatError(f"{where}.content[{n}] must be an object with a type.")
        if part["type"] == "text":
            if not isinstance(part.get("text"), str):
                raise ChatError(f"{where}.content[{n}].text must be a string.")
            texts.append(part["text"])
    return "".join(texts)


def _optional_count(payload: Mapping[str, Any], key: str) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ChatError(f"{key} must be a whole number >= 1, got {value!r}.")
    return value


def parse_chat(body: bytes | str | Mapping[str, Any], *, stream_default: bool = False) -> ChatRequest:
    """A chat-completion body, validated; `stream_default` is what a body without `stream` asks
    (StreamRawPredict streams). Raises ChatError naming the offending field."""
    payload: Any = body
    if not isinstance(body, Mapping):
        try:
            payload = json.loads(body or b"")
        except ValueError as err:
            raise ChatError(f"{INVALID_JSON} {err}") from None
    if not isinstance(payload, Mapping):
        raise ChatError(f"{INVALID_JSON} Expected an object.")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ChatError("messages is required: a non-empty list of {role, content}.")
    texts: list[str] = []
    last_user = ""
    for n, message in enumerate(messages):
        where = f"messages[{n}]"
        if not isinstance(message, Mapping):
            raise ChatError(f"{where} must be an object with role and content.")
        role = message.get("role")
        if role not in _ROLES:
            raise ChatError(f"{where}.role must be one of {sorted(_ROLES)}, got {role!r}.")
        if "content" not in message and role != "assistant":
            raise ChatError(f"{where}.content is required.")
        text = _text_of(message.get("content"), where)
        texts.append(text)
        if role == "user":
            last_user = text
    for key in ("temperature", "top_p"):
        value = payload.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ChatError(f"{key} must be a number, got {value!r}.")
    if "model" in payload and not isinstance(payload["model"], str):
        raise ChatError(f"model must be a string, got {payload['model']!r}.")
    flag = payload.get("stream", stream_default)
    if not isinstance(flag, bool):
        raise ChatError(f"stream must be a boolean, got {flag!r}.")
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise ChatError("stream_options must be an object.")
    include_usage = bool((options or {}).get("include_usage", False))
    max_tokens = _optional_count(payload, "max_completion_tokens") or _optional_count(payload, "max_tokens")
    return ChatRequest(tuple(texts), last_user, max_tokens, flag, include_usage)


# ----------------------------------------------------------------------------------------------------------
# Answers


@dataclass(frozen=True)
class ChatAnswer:
    """What the model says to one request: the text, its pieces as streamed, and the token counts."""

    text: str
    pieces: tuple[str, ...]
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int

    def usage(self) -> dict[str, int]:
        """OpenAI's usage object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def words(text: str) -> tuple[str, ...]:
    """The streamed pieces of a text: each word with the whitespace before it (they join back to `text`)."""
    pieces = _WORD.findall(text)
    joined = "".join(pieces)
    if joined != text:  # trailing whitespace rides on the last piece
        pieces = [*pieces[:-1], pieces[-1] + text[len(joined) :]] if pieces else [text]
    return tuple(pieces)


def answer(request: ChatRequest, behaviour: LlmBehaviour) -> ChatAnswer:
    """The emulated model's answer: the last user message (or `output_tokens` of it), cut to `max_tokens`."""
    text = shaped(request.last_user_text, behaviour.output_tokens)
    finish = "stop"
    if request.max_tokens is not None and tokens(text) > request.max_tokens:
        text, finish = shaped(text, request.max_tokens), "length"
    prompt = sum(tokens(t) for t in request.prompt_texts)
    return ChatAnswer(text, words(text), finish, prompt, tokens(text))


def completion(answer: ChatAnswer, *, completion_id: str, created: int, model: str) -> dict[str, Any]:
    """The non-streamed `chat.completion` object."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": answer.usage(),
    }


def chunks(
    answer: ChatAnswer, *, completion_id: str, created: int, model: str, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """The streamed `chat.completion.chunk` objects, in order (without the final `[DONE]` marker).
    The first carries the role and the first piece; each later one the next piece."""

    def chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [choice]}  # fmt: skip

    pieces = answer.pieces or ("",)
    for n, piece in enumerate(pieces):
        yield chunk({"role": "assistant", "content": piece} if n == 0 else {"content": piece}, None)
    yield chunk({}, answer.finish_reason)
    if include_usage:
        yield {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [], "usage": answer.usage()}  # fmt: skip


DONE = "[DONE]"  # the data of a chat stream's last server-sent event
