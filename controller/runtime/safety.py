"""Input validation and output filters of the runtime client, as verdicts. Pure.

- Input: `spec.safety.denyPatterns` are searched in every string a variable holds (lists and mappings
  included); a match blocks the request before the model call (the variables' declared types, enums
  and max lengths are checked by the renderer).
- Output: Gemini's `promptFeedback.blockReason`, a blocking finish reason (SAFETY, BLOCKLIST,
  PROHIBITED_CONTENT, SPII, RECITATION, MODEL_ARMOR, ...), a safety rating marked `blocked`, and
  `spec.safety.outputDenyPatterns` block the answer: the client returns `spec.safety.fallbackText`
  instead. Ratings above NEGLIGIBLE that did not block are reported as non-blocking verdicts.

A verdict says which rule or category fired, never the text that matched it (verdicts are logged).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from controller.model.prompt_runtime import PromptSafety
from controller.runtime.model import ModelAnswer

Stage = Literal["input", "output"]
Source = Literal["deny-pattern", "pii", "safety-rating", "block-reason", "finish-reason"]
BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "RECITATION",
        "MODEL_ARMOR",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
    }
)
_QUIET_PROBABILITIES = frozenset({"", "NEGLIGIBLE", "HARM_PROBABILITY_UNSPECIFIED"})


@dataclass(frozen=True)
class Verdict:
    """One safety decision about a request."""

    stage: Stage
    source: Source
    blocked: bool
    reason: str  # the rule or category, never the matched text

    def to_json(self) -> dict[str, Any]:
        """For the log line and the cache."""
        return {"stage": self.stage, "source": self.source, "blocked": self.blocked, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """Read back `to_json`."""
        return cls(data["stage"], data["source"], bool(data["blocked"]), str(data["reason"]))


@dataclass(frozen=True)
class Rules:
    """A prompt version's safety rules, compiled once per version."""

    deny: tuple[re.Pattern[str], ...] = ()
    output_deny: tuple[re.Pattern[str], ...] = ()
    redact_input: bool = False
    fallback_text: str = ""

    @classmethod
    def of(cls, safety: PromptSafety) -> Rules:
        """Compile a manifest's `spec.safety`."""
        return cls(
            deny=tuple(re.compile(p) for p in safety.deny_patterns),
            output_deny=tuple(re.compile(p) for p in safety.output_deny_patterns),
            redact_input=safety.redact_input,
            fallback_text=safety.fallback_text or "",
        )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def check_input(rules: Rules, variables: Mapping[str, Any]) -> Verdict | None:
    """The verdict blocking these variables, or None when no deny pattern matches."""
    if not rules.deny:
        return None
    for name, value in variables.items():
        for text in _strings(value):
            for index, pattern in enumerate(rules.deny):
                if pattern.search(text):
                    return Verdict("input", "deny-pattern", True, f"denyPatterns[{index}] in variable {name!r}")
    return None


def output_match(rules: Rules, text: str) -> Verdict | None:
    """The verdict blocking an answer for an output deny pattern, or None."""
    for index, pattern in enumerate(rules.output_deny):
        if pattern.search(text):
            return Verdict("output", "deny-pattern", True, f"outputDenyPatterns[{index}]")
    return None


def model_verdicts(answer: ModelAnswer) -> list[Verdict]:
    """What the model's own safety signals say (blocking or not)."""
    verdicts: list[Verdict] = []
    if answer.block_reason:
        verdicts.append(Verdict("input", "block-reason", True, f"blockReason {answer.block_reason}"))
    if answer.finish_reason in BLOCKING_FINISH_REASONS:
        verdicts.append(Verdict("output", "finish-reason", True, f"finishReason {answer.finish_reason}"))
    for rating in answer.ratings:
        if rating.blocked or rating.probability not in _QUIET_PROBABILITIES:
            level = " ".join(x for x in (rating.probability, rating.severity) if x)
            verdicts.append(Verdict("output", "safety-rating", rating.blocked, f"{rating.category} {level}".strip()))
    return verdicts


def check_output(rules: Rules, answer: ModelAnswer, text: str) -> list[Verdict]:
    """Every output verdict for a whole answer: the model's signals, then the deny patterns."""
    verdicts = model_verdicts(answer)
    if not any(v.blocked for v in verdicts):
        denied = output_match(rules, text)
        if denied is not None:
            verdicts.append(denied)
    return verdicts


def blocked(verdicts: Sequence[Verdict]) -> bool:
    """True when any verdict blocks."""
    return any(v.blocked for v in verdicts)
