"""What one `generate` returns to the application: the text and everything known about how it was made."""

from __future__ import annotations

from dataclasses import dataclass

from controller.runtime.records import Outcome, Usage
from controller.runtime.safety import Verdict


@dataclass(frozen=True)
class Result:
    """The answer to one request.

    `usage` holds the tokens this request was billed for (zero on a cache hit, whose `cost_saved_usd` is
    what the answer cost when it was made, at today's prices). When `blocked`, `text` is the prompt's
    `spec.safety.fallbackText` and `verdicts` say why.
    """

    text: str
    request_id: str
    prompt: str
    version: str
    label: str
    model: str  # the model that answered (the fallback model when outcome is FALLBACK)
    outcome: Outcome
    usage: Usage
    cost_usd: float
    latency_s: float
    cache_hit: bool = False
    cost_saved_usd: float = 0.0
    verdicts: tuple[Verdict, ...] = ()
    finish_reason: str | None = None
    priced: bool = True  # False: the model has no price in the table (cost_usd is 0, not known to be 0)

    @property
    def blocked(self) -> bool:
        """True when the request or its answer was blocked (`text` is the fallback text)."""
        return self.outcome in (Outcome.BLOCKED_INPUT, Outcome.BLOCKED_OUTPUT)
