"""Custom scorers the evaluation tests load by name (`tests.evaluation.sample_scorers:NAME`), each standing
for a kind of scorer an operator might install: a good one, and ones whose results the gate must refuse."""

from __future__ import annotations


def length_ratio(expected: str, answer: str) -> float:
    """A well-behaved scorer: how close the answer's length is to the expected one's (0..1)."""
    longest = max(len(expected), len(answer))
    return 1.0 if longest == 0 else min(len(expected), len(answer)) / longest


def always_one(expected: str, answer: str) -> int:
    """An int in range is a number in [0, 1] too."""
    return 1


def too_high(expected: str, answer: str) -> float:
    """Out of range: a percentage where a fraction is due."""
    return 2.0


def negative(expected: str, answer: str) -> float:
    return -0.1


def not_a_number(expected: str, answer: str) -> float:
    return float("nan")


def text(expected: str, answer: str) -> str:
    return "0.5"


def boolean(expected: str, answer: str) -> bool:
    return True


def broken(expected: str, answer: str) -> float:
    raise KeyError("label")


NOT_CALLABLE = 0.5
