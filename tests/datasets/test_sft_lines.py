"""One JSONL line against the Gemini supervised-tuning format (controller/datasets/sft.py): the problems
with their field paths, and the turns and estimated tokens it counts. Cases in tests/cases/datasets/sft.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.datasets.sft import check_line, estimate_tokens

CASES = yaml.safe_load((Path(__file__).parents[1] / "cases" / "datasets" / "sft.yaml").read_text(encoding="utf-8"))


def _line(case: dict[str, Any]) -> bytes:
    if "raw_hex" in case:
        return bytes.fromhex(case["raw_hex"])
    if "raw" in case:
        return str(case["raw"]).encode("utf-8")
    return json.dumps(case["example"]).encode("utf-8")


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_each_line_gets_exactly_the_expected_problems(case: dict[str, Any]) -> None:
    checked = check_line(_line(case), max_tokens=case.get("max_tokens", 131_072))
    found = [(p.severity.value, p.path, p.message) for p in checked.problems]
    assert [(severity, path) for severity, path, _ in found] == [(s, p) for s, p, _ in case["problems"]], found
    for (_, _, message), (_, _, phrase) in zip(found, case["problems"], strict=True):
        assert phrase in message
    assert checked.ok == all(severity != "error" for severity, _, _ in case["problems"])
    if "turns" in case:
        assert checked.turns == case["turns"]
    if "tokens" in case:
        assert checked.tokens == case["tokens"]
    if "column" in case:
        assert checked.problems[0].column == case["column"]


@pytest.mark.parametrize(("characters", "tokens"), [(0, 0), (1, 1), (4, 1), (5, 2), (400, 100), (401, 101)], ids=str)
def test_tokens_are_estimated_as_characters_over_four_rounded_up(characters: int, tokens: int) -> None:
    assert estimate_tokens(characters) == tokens


def test_very_deep_nesting_is_a_problem_not_a_crash() -> None:
    checked = check_line(b"[" * 100_000 + b"]" * 100_000)
    assert not checked.ok
    assert "not valid JSON" in checked.problems[0].message
