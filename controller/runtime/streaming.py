"""Output filters on a streamed answer (shared by the sync and async streams). Pure.

Chunks are accumulated; after each one the model's safety signals and the output deny patterns are
checked on the whole text so far. Text is released to the caller only up to `holdback` characters
before the end (128 when the prompt has output deny patterns, else 0), so a deny pattern that matches
within that distance of the end is never shown. When the answer is blocked the stream stops and its
last delta is the prompt's fallback text (text released before the block cannot be taken back: keep
deny patterns short, or use `generate`).
"""

from __future__ import annotations

from collections.abc import Iterator

from controller.runtime.model import ModelAnswer, SafetyRating
from controller.runtime.records import Usage
from controller.runtime.safety import Rules, model_verdicts, output_match

DENY_HOLDBACK_CHARS = 128


class StreamState:
    """The text and metadata of one stream so far."""

    def __init__(self, rules: Rules, *, holdback: int | None = None) -> None:
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

    def feed(self, chunk: ModelAnswer) -> Iterator[str]:
        """Take one chunk; yield the text that is now safe to release."""
        if self.stopped:
            return
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
            self.text, self.usage, self.finish_reason, self.block_reason, tuple(self.ratings), self.model_version
        )
