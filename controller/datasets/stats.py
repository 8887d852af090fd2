"""Counters over a dataset, fed one checked line at a time: what `data validate` and `data stats` print.

Bounded memory whatever the file's size: sums, minimums, maximums and a histogram of estimated tokens
per example in power-of-two buckets (no list of every example). Tokens are estimates (characters / 4,
see sft.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.datasets.sft import Checked
from controller.diagnostics import Severity

# Upper bounds of the token histogram's buckets: 64, 128, ..., 131,072 (the per-example limit), then more.
TOKEN_BUCKETS = tuple(2**power for power in range(6, 18))
OVER_LAST_BUCKET = "more"


def bucket_of(tokens: int) -> str:
    """The histogram bucket of an example: the smallest bound it fits under, as text (`<=512`)."""
    if tokens <= TOKEN_BUCKETS[0]:
        return f"<={TOKEN_BUCKETS[0]}"
    bound = 1 << (tokens - 1).bit_length()  # the next power of two at or above `tokens`
    return f"<={bound}" if bound <= TOKEN_BUCKETS[-1] else f">{TOKEN_BUCKETS[-1]}"


@dataclass
class DatasetStats:
    """Running counts over the lines of one file."""

    lines: int = 0  # every line read, blank ones included
    examples: int = 0  # lines holding a JSON object (valid or not)
    valid_examples: int = 0
    invalid_lines: int = 0  # lines with at least one error
    errors: int = 0
    warnings: int = 0
    tokens: int = 0
    min_tokens: int = 0
    max_tokens: int = 0
    max_tokens_line: int = 0
    turns: int = 0
    max_turns: int = 0
    multi_turn: int = 0  # examples with more than one user/model exchange
    with_system_instruction: int = 0
    file_parts: int = 0
    histogram: dict[str, int] = field(default_factory=dict)

    def add(self, checked: Checked, *, line: int) -> None:
        """Count one line's verdict and measurements."""
        self.lines += 1
        errors = sum(1 for p in checked.problems if p.severity is Severity.ERROR)
        self.errors += errors
        self.warnings += len(checked.problems) - errors
        if errors:
            self.invalid_lines += 1
        if not checked.parsed:
            return
        self.examples += 1
        self.valid_examples += 0 if errors else 1
        tokens = checked.tokens
        self.tokens += tokens
        self.min_tokens = tokens if self.examples == 1 else min(self.min_tokens, tokens)
        if tokens > self.max_tokens or self.examples == 1:
            self.max_tokens, self.max_tokens_line = tokens, line
        self.turns += checked.turns
        self.max_turns = max(self.max_turns, checked.turns)
        self.multi_turn += 1 if checked.turns > 2 else 0
        self.with_system_instruction += 1 if checked.has_system else 0
        self.file_parts += checked.file_parts
        key = bucket_of(tokens)
        self.histogram[key] = self.histogram.get(key, 0) + 1

    def add_problem(self, *, error: bool) -> None:
        """Count a problem found outside any line's check (an oversize line, a file-level limit)."""
        if error:
            self.errors += 1
        else:
            self.warnings += 1

    @property
    def mean_tokens(self) -> float:
        return self.tokens / self.examples if self.examples else 0.0

    @property
    def mean_turns(self) -> float:
        return self.turns / self.examples if self.examples else 0.0

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict; its keys are part of `data stats --output json`."""
        ordered = {bucket_of(b): self.histogram[bucket_of(b)] for b in TOKEN_BUCKETS if bucket_of(b) in self.histogram}
        over = bucket_of(TOKEN_BUCKETS[-1] + 1)
        if over in self.histogram:
            ordered[over] = self.histogram[over]
        return {
            "lines": self.lines,
            "examples": self.examples,
            "valid_examples": self.valid_examples,
            "invalid_lines": self.invalid_lines,
            "error_count": self.errors,
            "warning_count": self.warnings,
            "estimated_tokens": {
                "method": "ceil(characters / 4) per example: an estimate, not the tokenizer",
                "total": self.tokens,
                "min": self.min_tokens,
                "mean": round(self.mean_tokens, 1),
                "max": self.max_tokens,
                "max_line": self.max_tokens_line,
                "histogram": ordered,
            },
            "turns": {"total": self.turns, "mean": round(self.mean_turns, 2), "max": self.max_turns},
            "multi_turn_examples": self.multi_turn,
            "with_system_instruction": self.with_system_instruction,
            "file_parts": self.file_parts,
        }
