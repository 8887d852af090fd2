"""What a `Prompt` declares for the runtime client (controller/runtime): the response-cache policy, input
and output safety rules, Gemini safety settings, and a fallback model. Part of the Prompt kind; published
with each version (they shape the answer, so they are part of the version's content).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from controller.model.common import Duration, Frozen, StrictBool

CacheWhen = Literal["deterministic", "always", "never"]
HarmCategory = Literal[
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
    "HARM_CATEGORY_JAILBREAK",
]
HarmThreshold = Literal["BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"]
MAX_PATTERNS = 64


class CachePolicy(Frozen):
    """When the runtime client may answer from its response cache, and for how long."""

    ttl: Duration = Field(default="1h", description="How long a cached answer is served, such as 10m or 1h.")
    when: CacheWhen = Field(
        default="deterministic",
        description="deterministic: only when generationConfig.temperature is 0; always: every answer "
        "(sampled answers repeat); never: no caching.",
    )


class SafetySetting(Frozen):
    """One Gemini safety setting sent with each request (`safetySettings[]` of GenerateContent)."""

    category: HarmCategory
    threshold: HarmThreshold
    method: Literal["SEVERITY", "PROBABILITY"] | None = None


def _compiles(patterns: tuple[str, ...]) -> tuple[str, ...]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"invalid regular expression {pattern!r}: {err}") from err
    return patterns


class PromptSafety(Frozen):
    """Input validation, PII redaction and output filters the runtime client applies."""

    deny_patterns: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_PATTERNS,
        description="Regular expressions (Python syntax; add (?i) to ignore case) refused in any variable value: "
        "the request is blocked before the model call.",
    )
    output_deny_patterns: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_PATTERNS,
        description="Regular expressions refused in the model's answer: the answer is replaced by fallbackText.",
    )
    redact_input: StrictBool = Field(
        default=False,
        description="Replace PII (emails, phone numbers, card numbers, IBANs, national ids) in the rendered "
        "prompt before it is sent to the model. PII never reaches logs, cache keys or metric labels either way.",
    )
    fallback_text: str | None = Field(
        default=None,
        max_length=4096,
        description="The text returned instead of a blocked answer (empty when not set).",
    )

    @field_validator("deny_patterns", "output_deny_patterns")
    @classmethod
    def _valid_patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        return _compiles(patterns)
