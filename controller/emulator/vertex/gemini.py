"""Simulated Gemini models: which publisher models exist, how each behaves, and what it answers.

Part of the emulated Vertex AI (`generate.py` serves it over gRPC, `rest_generate.py` over REST/SSE). Pure:
the caller draws the random outcome and passes the time in.

A model's behaviour rides on its name, after `;` (the google-genai SDK refuses `?` and `&` in model
names) or `?`, parameters separated by `;` or `&`:

    gemini-2.5-flash;error_rate=0.1;error_code=429;latency_ms=300;block_rate=0.05

- `error_rate` (0..1) fails that fraction of calls with `error_code` (429 RESOURCE_EXHAUSTED, 500 INTERNAL
  (default) or 503 UNAVAILABLE), as Google's JSON error body over REST and a gRPC status over gRPC;
- `latency_ms`, `latency_jitter_ms` as for registry models (`behaviour.py`);
- `block_rate` (0..1) answers a candidate with finishReason SAFETY and a blocked safety rating (unless the
  request's safety setting for that category is BLOCK_NONE or OFF); `prompt_block_rate` (0..1) answers
  `promptFeedback.blockReason` SAFETY with no candidates;
- `thinking_tokens` reported as thoughtsTokenCount (0 when the request's thinking budget is 0);
- `cached_ratio` (0..1) of the prompt tokens reported as cachedContentTokenCount;
- `chunks` (>= 1, default 3): how many events a stream splits the answer into;
- `output_tokens` (whole number; 0 or absent: the echo as it is) makes the answer that many tokens long
  (candidatesTokenCount = N before `maxOutputTokens` and stop sequences apply): the echo is cut, or padded
  with fixed filler words after it; `output_tokens_jitter` (whole number, needs `output_tokens`) draws each
  answer's length uniformly from N - jitter .. N + jitter (at least 1).

Counts (`thinking_tokens`, `chunks`, `output_tokens`, `output_tokens_jitter`) must be whole numbers; every
malformed parameter is a ValueError naming the model (INVALID_ARGUMENT for a call naming it).

A healthy answer echoes the text of the last user turn. Token counts are ceil(characters / 4) of the
prompt (every content and the system instruction) and of the answer; totalTokenCount = prompt + candidates
+ thoughts. `maxOutputTokens` truncates the answer (finishReason MAX_TOKENS), a stop sequence cuts it.
The same parameters in a registry model's artifact URI (`gs://emulator-models/x?block_rate=0.1`) describe
a tuned model served from an endpoint.

A registry of emulated publisher models gives model versions, retirement dates and default behaviours:
`catalogue()`, read from the one model catalogue (`controller/model/catalogue/publisher_models.yaml`, so
the emulator and `validate` / `plan` / `models outdated` cannot disagree on a date), plus the emulator's
`gemini_models` option (`genaiops emulator start --gemini-model ID=PARAMS`), model id -> default parameters.
It may name any model id, a catalogue alias or version (`gemini-2.0-flash-001`), an unreleased version
(`gemini-2.5-flash-002`) or a made-up one (`gemini-2.5-flash-bad`), so two versions of a model can differ for a canary:

    gemini_models={"gemini-2.0-flash-001": "latency_ms=40;error_rate=0.01;output_tokens=60",
                   "gemini-2.5-flash-bad": "latency_ms=400;error_rate=0.3;block_rate=0.2;output_tokens=300"}

Parameters in a call's model name override that model's defaults one by one
(`gemini-2.5-flash-bad;error_rate=0` keeps its latency). A response's `modelVersion` is the catalogue
version of a catalogue id (`gemini-2.0-flash` -> `gemini-2.0-flash-001`), else the id called, never the
parameters. Any other `gemini-*` model id is served as a healthy model, and never retires.

A catalogue model (and a `gemini_models` entry naming one) is retired after its `retires` day: judged on the
emulator's calendar (`controller/emulator/calendar.py`), calls to it answer NOT_FOUND (`retired_on`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from google.cloud import aiplatform_v1 as v1

from controller.emulator.behaviour import HEALTHY, Behaviour, behaviour_from, number_param
from controller.model.catalogue.lifecycle import model_catalogue

RESPONSE_PB = type(v1.GenerateContentResponse.pb(v1.GenerateContentResponse()))
_FINISH = v1.Candidate.FinishReason
_CATEGORY = v1.HarmCategory
_PROBABILITY = v1.SafetyRating.HarmProbability
_SEVERITY = v1.SafetyRating.HarmSeverity
_THRESHOLD = v1.SafetySetting.HarmBlockThreshold
_CATEGORIES = (
    _CATEGORY.HARM_CATEGORY_HATE_SPEECH,
    _CATEGORY.HARM_CATEGORY_DANGEROUS_CONTENT,
    _CATEGORY.HARM_CATEGORY_HARASSMENT,
    _CATEGORY.HARM_CATEGORY_SEXUALLY_EXPLICIT,
)
BLOCKED_CATEGORY = _CATEGORY.HARM_CATEGORY_DANGEROUS_CONTENT
ERROR_CODES = (429, 500, 503)


@dataclass(frozen=True)
class GeminiBehaviour:
    """How a simulated Gemini model answers (see the module docstring for the parameters)."""

    base: Behaviour = HEALTHY
    error_code: int = 500
    block_rate: float = 0.0
    prompt_block_rate: float = 0.0
    thinking_tokens: int = 0
    cached_ratio: float = 0.0
    chunks: int = 3
    output_tokens: int = 0  # 0: the answer is the echo as it is
    output_tokens_jitter: int = 0

    def draw_output_tokens(self, rng: random.Random) -> int:
        """One answer's length in tokens (0: the echo as it is); draws from `rng` only with a jitter."""
        if not self.output_tokens_jitter:
            return self.output_tokens
        jitter = rng.randint(-self.output_tokens_jitter, self.output_tokens_jitter)
        return max(1, self.output_tokens + jitter)


def _rate(params: dict[str, list[str]], key: str, where: str) -> float:
    value = number_param(params, key, 0.0, where=where)
    if value > 1:
        raise ValueError(f"{key} must be between 0 and 1 in {where!r}")
    return value


def _count(params: dict[str, list[str]], key: str, default: int, where: str) -> int:
    value = number_param(params, key, float(default), where=where)
    if not value.is_integer():
        raise ValueError(f"{key}={params[key][-1]!r} must be a whole number in {where!r}")
    return int(value)


def gemini_behaviour(params: dict[str, list[str]], where: str) -> GeminiBehaviour:
    """The behaviour described by parsed parameters; ValueError naming `where` when one is malformed."""
    base = behaviour_from(params, where)  # first: it refuses unknown parameters
    error_code = int(number_param(params, "error_code", 500, where=where))
    if error_code not in ERROR_CODES:
        raise ValueError(f"error_code must be one of {list(ERROR_CODES)} in {where!r}")
    chunks = _count(params, "chunks", 3, where)
    if chunks < 1:
        raise ValueError(f"chunks must be at least 1 in {where!r}")
    output_tokens = _count(params, "output_tokens", 0, where)
    jitter = _count(params, "output_tokens_jitter", 0, where)
    if jitter and not output_tokens:
        raise ValueError(f"output_tokens_jitter needs output_tokens in {where!r}")
    return GeminiBehaviour(
        base=base,
        error_code=error_code,
        block_rate=_rate(params, "block_rate", where),
        prompt_block_rate=_rate(params, "prompt_block_rate", where),
        thinking_tokens=_count(params, "thinking_tokens", 0, where),
        cached_ratio=_rate(params, "cached_ratio", where),
        chunks=chunks,
        output_tokens=output_tokens,
        output_tokens_jitter=jitter,
    )


def parse_params(text: str) -> dict[str, list[str]]:
    """`a=1;b=2` or `a=1&b=2` as `parse_qs` gives it."""
    return parse_qs(text.replace(";", "&"), keep_blank_values=True)


def split_model(name: str) -> tuple[str, str]:
    """`publishers/google/models/gemini-x;error_rate=1` -> (`publishers/google/models/gemini-x`, `error_rate=1`)."""
    head, slash, last = name.rpartition("/")
    cut = min((i for i in (last.find(";"), last.find("?")) if i >= 0), default=-1)
    if cut < 0:
        return name, ""
    return head + slash + last[:cut], last[cut + 1 :]


@dataclass(frozen=True)
class PublisherModel:
    """An emulated publisher model: the `modelVersion` it reports, when it retires, its default behaviour."""

    model_id: str
    version: str
    retired_after: date | None = None  # its last available day; calls after it answer NOT_FOUND
    behaviour: str = ""  # default parameters, overridden by the ones in the model name

    def retired_on(self, today: date) -> bool:
        """Whether calls on `today` find the model retired (its last day still works)."""
        return self.retired_after is not None and today > self.retired_after


@cache
def catalogue() -> dict[str, PublisherModel]:
    """The emulated publisher models by id and alias, from the one model catalogue
    (`controller/model/catalogue/publisher_models.yaml`): an alias reports its row's versioned id as
    `modelVersion` (`gemini-2.0-flash` -> `gemini-2.0-flash-001`) and retires with it."""
    models: dict[str, PublisherModel] = {}
    for row in model_catalogue().models.values():
        for name in (row.model_id, *row.aliases):
            models[name] = PublisherModel(name, row.model_id, row.retires)
    return models


def find_publisher_model(model_id: str, extra: Mapping[str, str]) -> PublisherModel | None:
    """The emulated model `model_id` of publisher google: an `extra` entry (id -> default behaviour), a
    catalogue entry, any other `gemini-*` id as a healthy model, else None (the API answers NOT_FOUND)."""
    known = catalogue().get(model_id)
    if model_id in extra:
        base = known or PublisherModel(model_id, model_id)
        return PublisherModel(model_id, base.version, base.retired_after, extra[model_id])
    if known is not None:
        return known
    return PublisherModel(model_id, model_id) if model_id.startswith("gemini-") else None


def tokens(text: str) -> int:
    """The emulator's token count: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def _texts(content: Any) -> list[str]:
    return [part.text for part in content.parts if part.WhichOneof("data") == "text"]


def prompt_tokens(request: Any) -> int:
    """Tokens of every text in the request's contents and system instruction (raw protobuf request)."""
    total = sum(tokens(t) for content in request.contents for t in _texts(content))
    return total + sum(tokens(t) for t in _texts(request.system_instruction))


def echo_text(request: Any) -> str:
    """The text of the last user turn (the emulated model's answer before limits apply)."""
    for content in reversed(request.contents):
        if content.role in ("", "user"):
            return "".join(_texts(content))
    return ""


@dataclass(frozen=True)
class Draw:
    """The random part of one call, drawn by the caller: which outcome, and the response identity."""

    prompt_blocked: bool
    blocked: bool
    response_id: str
    at: float  # unix seconds
    output_tokens: int = 0  # the answer's length in tokens (`GeminiBehaviour.draw_output_tokens`); 0: the echo


# Deterministic padding for `output_tokens`: the answer goes on with these words, in this order, repeated.
FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod")


def shaped(text: str, output_tokens: int) -> str:
    """`text` cut, or padded with `FILLER` words after a space, to exactly `output_tokens` tokens (unchanged
    for 0). The padded answer never ends in a space: dropping one keeps ceil(characters / 4) the same."""
    if output_tokens <= 0:
        return text
    size = 4 * output_tokens
    if len(text) >= size:
        return text[:size]
    words, length = ([text] if text else []), len(text)
    while length < size:
        word = FILLER[(len(words) - (1 if text else 0)) % len(FILLER)]
        length += len(word) + (1 if words else 0)
        words.append(word)
    out = " ".join(words)[:size]
    return out[:-1] if out.endswith(" ") else out


def _ratings(pb: Any, *, harmful: bool, blocked: bool) -> None:
    for category in _CATEGORIES:
        rating = pb.add(category=category)
        if harmful and category == BLOCKED_CATEGORY:
            rating.probability, rating.probability_score = _PROBABILITY.HIGH, 0.94
            rating.severity, rating.severity_score = _SEVERITY.HARM_SEVERITY_HIGH, 0.91
            rating.blocked = blocked
        else:
            rating.probability, rating.probability_score = _PROBABILITY.NEGLIGIBLE, 0.03
            rating.severity, rating.severity_score = _SEVERITY.HARM_SEVERITY_NEGLIGIBLE, 0.02


def _blocking_allowed(request: Any) -> bool:
    """False when the request turned blocking off for the category the emulator flags."""
    for setting in request.safety_settings:
        if setting.category == BLOCKED_CATEGORY and setting.threshold in (_THRESHOLD.BLOCK_NONE, _THRESHOLD.OFF):
            return False
    return True


def _limit(text: str, config: Any) -> tuple[str, int]:
    """Apply stop sequences and maxOutputTokens: the text and its finish reason."""
    for stop in config.stop_sequences:
        if stop and stop in text:
            text = text[: text.index(stop)]
    if config.max_output_tokens > 0 and tokens(text) > config.max_output_tokens:
        return text[: config.max_output_tokens * 4], _FINISH.MAX_TOKENS
    return text, _FINISH.STOP


def _usage(out: Any, *, prompt: int, candidates: int, thoughts: int, cached: int) -> None:
    usage = out.usage_metadata
    usage.prompt_token_count = prompt
    usage.candidates_token_count = candidates
    usage.thoughts_token_count = thoughts
    usage.cached_content_token_count = cached
    usage.total_token_count = prompt + candidates + thoughts
    usage.prompt_tokens_details.add(modality=v1.Modality.TEXT, token_count=prompt)
    if candidates:
        usage.candidates_tokens_details.add(modality=v1.Modality.TEXT, token_count=candidates)
    usage.traffic_type = v1.GenerateContentResponse.UsageMetadata.TrafficType.ON_DEMAND


def _header(out: Any, *, version: str, draw: Draw) -> None:
    out.model_version = version
    out.response_id = draw.response_id
    out.create_time.FromNanoseconds(round(draw.at * 1e9))


def answer(
    request: Any, behaviour: GeminiBehaviour, *, version: str, draw: Draw, stream: bool, text: str | None = None
) -> list[Any]:
    """The response (one) or stream events (several) for a raw `GenerateContentRequest` protobuf; `text`
    replaces the echo of the last user turn (what a tuned model learned), before the same limits apply."""
    prompt = prompt_tokens(request)
    cached = math.floor(prompt * behaviour.cached_ratio)
    out = RESPONSE_PB()
    _header(out, version=version, draw=draw)
    if draw.prompt_blocked:
        feedback = out.prompt_feedback
        feedback.block_reason = v1.GenerateContentResponse.PromptFeedback.BlockedReason.SAFETY
        feedback.block_reason_message = "The prompt was blocked for safety reasons (emulated)."
        _ratings(feedback.safety_ratings, harmful=True, blocked=True)
        _usage(out, prompt=prompt, candidates=0, thoughts=0, cached=cached)
        return [out]
    config = request.generation_config
    thinking = config.thinking_config
    budget_off = thinking.HasField("thinking_budget") and thinking.thinking_budget == 0
    thoughts = 0 if budget_off else behaviour.thinking_tokens
    blocked = draw.blocked and _blocking_allowed(request)
    said = echo_text(request) if text is None else text
    text, finish = ("", _FINISH.SAFETY) if blocked else _limit(shaped(said, draw.output_tokens), config)
    count = max(1, config.candidate_count)
    pieces = _split(text, behaviour.chunks if stream else 1)
    events: list[Any] = []
    for n, piece in enumerate(pieces):
        event = out if n == 0 else RESPONSE_PB()
        if n:
            _header(event, version=version, draw=draw)
        last = n == len(pieces) - 1
        for index in range(count):
            candidate = event.candidates.add(index=index)
            if not blocked:
                candidate.content.role = "model"
                candidate.content.parts.add(text=piece)
            if last:
                candidate.finish_reason = finish
                _ratings(candidate.safety_ratings, harmful=draw.blocked, blocked=blocked)
        if last:
            _usage(event, prompt=prompt, candidates=tokens(text) * count, thoughts=thoughts, cached=cached)
        events.append(event)
    return events


def _split(text: str, chunks: int) -> list[str]:
    """`text` in at most `chunks` consecutive pieces (one empty piece for an empty text)."""
    if not text:
        return [""]
    size = math.ceil(len(text) / min(chunks, len(text)))
    return [text[i : i + size] for i in range(0, len(text), size)]
