"""The deterministic assertions, table-driven: each type with a passing and a failing response."""

from __future__ import annotations

from typing import Any

import pytest

from controller.model import Assertion
from controller.prompts.assertions import check, estimate_tokens

SCHEMA = {"type": "object", "required": ["queue"], "properties": {"queue": {"enum": ["billing", "technical"]}}}

CASES: list[tuple[str, Any, str, bool, str]] = [
    ("contains", "Ada", "Hi Ada!", True, ""),
    ("contains", "ada", "Hi Ada!", False, 'expected the response to contain "ada"; got "Hi Ada!"'),
    ("icontains", "FORGOT password", "Use the Forgot Password link", True, ""),
    ("icontains", "refund", "No.", False, "ignoring case"),
    ("not-contains", "90-day", "Refunds within 30 days.", True, ""),
    ("not-contains", "90-day", "We offer a 90-day refund.", False, 'not to contain "90-day"'),
    ("regex", r"\b30 days\b", "within 30 days.", True, ""),
    ("regex", r"^\d+$", "abc", False, r"to match /^\d+$/"),
    ("equals", "billing", "  billing\n", True, ""),
    ("equals", "billing", "technical", False, 'to equal "billing"'),
    ("is-json", None, '{"a": 1}', True, ""),
    ("is-json", None, "{a: 1}", False, "response is not JSON"),
    ("json-schema", SCHEMA, '{"queue": "billing"}', True, ""),
    ("json-schema", SCHEMA, '{"queue": "sales"}', False, "at queue: 'sales' is not one of"),
    ("json-schema", SCHEMA, "not json", False, "response is not JSON"),
    ("json-schema", {"type": "nonsense"}, "{}", False, "the assertion's schema is invalid"),
    ("max-length", 5, "12345", True, ""),
    ("max-length", 5, "123456", False, "expected at most 5 characters, got 6"),
    ("max-tokens", 10, "one two three", True, ""),
    ("max-tokens", 3, "one two three four", False, "expected at most 3 tokens, got about 5 (estimated)"),
]


@pytest.mark.parametrize(("kind", "value", "response", "passes", "message"), CASES)
def test_assertion(kind: str, value: Any, response: str, passes: bool, message: str) -> None:
    result = check(Assertion(type=kind, value=value), response)
    assert result.passed is passes, result.message
    assert message in result.message


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("", 0, 0), ("hello", 1, 2), ("Hello, world! How are you?", 7, 8), ("x" * 400, 100, 100)],
)
def test_the_token_estimate_is_close_to_a_real_tokenizer(text: str, low: int, high: int) -> None:
    assert low <= estimate_tokens(text) <= high
