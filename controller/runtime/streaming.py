"""Output filters on a streamed answer (shared by the sync and async streams). Pure.

Chunks are accumulated; after each one the model's safety signals and the output deny patterns are
checked on the whole text so far. Text is released to the caller only up to `holdback` characters
before the end (128 when the prompt has output deny patterns, else 0), so a deny pattern that matches
within that distance of the end is never shown. When the answer is blocked the stream stops and its
last delta is the prompt's fallback text (text released before the block cannot be taken back: keep
deny patterns short, or use `generate`).

`StreamState` also times the stream for the runtime's streaming metrics when given a `timer` and the
request's start on it: the time to the first chunk with text (what a user waits before the answer starts),
and the output tokens per second after it (`StreamTiming.tokens_per_second`: output tokens / (end - first
chunk); None when the answer had no text or ended with its first chunk). The deployed model an endpoint
named in its chunks (`ModelAnswer.deployed_model_id`) is kept too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from controller.runtime.model import ModelAnswer, SafetyRating
from controller.runtime.records import Usage
from controller.runtime.safety import Rules, model_verdicts, output_match

DENY_HOLDBACK_CHARS = 128


@dataclass(frozen=True)
class StreamTiming:
    """When one stream's text began and ended, on the client's timer (seconds)."""

    started: float  # the request's start
    first_token: float | None  # the first chunk with text; None: no text at all
    ended: float

    @property
    def time_to_first_token_s(self) -> float | None:
        """Seconds from the request to the first text."""
        return None if self.first_token is None else max(0.0, self.first_token - self.started)

    def tokens_per_second(self, output_tokens: int) -> float | None:
        """Output tokens per second after the first text; None without text, tokens or time after it."""
        if self.first_token is None or output_tokens <= 0:
            return None
        elapsed = self.ended - self.first_token
        return output_tokens / elapsed if elapsed > 0 else None


class StreamState:
    """The text and metadata of one stream so far."""

    def __init__(
        self,
        rules: Rules,
        *,
        holdback: int | None = None,
        timer: Callable[[], float] | None = None,
        started: float = 0.0,
    ) -> None:
        self.rules = rules
        self.holdback = (DENY_HOLDBACK_CHARS if rules.output_deny else 0) if holdback is None else holdback
        self.text = ""
        self.emitted = 0
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.block_reason: str | None = None
        self.ratings: list[SafetyRating] = []
        self.model_version: str | None = None
        self.stopped = False  # blocked: read no further chunks
        self.deployed_model_id: str | None = None
        self._timer, self._started = timer, started
        self._first_token: float | None = None

    def feed(self, chunk: ModelAnswer) -> Iterator[str]:
        """Take one chunk; yield the text that is now safe to release."""
        if self.stopped:
            return
        if chunk.text and self._first_token is None and self._timer is not None:
            self._first_token = self._timer()
        self.deployed_model_id = chunk.deployed_model_id or self.deployed_model_id
        self.text += chunk.text
        self.usage = chunk.usage or self.usage  # Gemini repeats the running totals; the last one counts
        self.finish_reason = chunk.finish_reason or self.finish_reason
        self.block_reason = chunk.block_reason or self.block_reason
        self.ratings.extend(chunk.ratings)
        self.model_version = chunk.model_version or self.model_version
        signals = model_verdicts(ModelAnswer("", None, chunk.finish_reason, chunk.block_reason, chunk.ratings))
        if any(v.blocked for v in signals) or output_match(self.rules, self.text) is not None:
            self.stopped = True
            return
        safe_end = len(self.text) - self.holdback
        if safe_end > self.emitted:
            yield self.text[self.emitted : safe_end]
            self.emitted = safe_end

    def close(self) -> Iterator[str]:
        """The rest of the text, or the fallback text when the answer was blocked."""
        if self.stopped:
            if self.rules.fallback_text:
                yield self.rules.fallback_text
            return
        if self.emitted < len(self.text):
            yield self.text[self.emitted :]
            self.emitted = len(self.text)

    def answer(self) -> ModelAnswer:
        """The whole answer, as `generate` would have had it."""
        return ModelAnswer(
            self.text,
            self.usage,
            self.finish_reason,
            self.block_reason,
            tuple(self.ratings),
            self.model_version,
            self.deployed_model_id,
        )

    def timing(self) -> StreamTiming | None:
        """When the text began and the stream ended (now); None when the state has no timer."""
        if self._timer is None:
            return None
        return StreamTiming(self._started, self._first_token, self._timer())
