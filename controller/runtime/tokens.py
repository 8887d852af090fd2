"""Token counts of a request: the model's usage metadata when it reports it, else an estimate that says
it is one (`Usage.estimated`). Pure.

The estimate is the usual rule of thumb for Gemini's tokenizer on English text, about 4 characters per
token; it is there so costs and token metrics are never silently zero, not for billing.
"""

from __future__ import annotations

import math

from controller.runtime.records import Usage

CHARS_PER_TOKEN = 4.0


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` is."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def usage_or_estimate(usage: Usage | None, *, prompt: str, system_instruction: str | None, answer: str) -> Usage:
    """`usage` when the model reported it, else an estimate from the texts."""
    if usage is not None:
        return usage
    return Usage(
        input_tokens=estimate_tokens(prompt) + estimate_tokens(system_instruction or ""),
        output_tokens=estimate_tokens(answer),
        estimated=True,
    )
