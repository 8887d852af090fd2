"""Deterministic checks of a model response, as declared under a prompt test's `assert:`.

contains / icontains / not-contains (substring, case-insensitive for icontains), regex (`re.search`),
equals (exact, after trimming surrounding whitespace), is-json, json-schema (Draft 2020-12 via the
`jsonschema` package), max-length (characters) and max-tokens (an estimate, see `estimate_tokens`).
Pure: each check returns a result with a message saying what was expected and what came back.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, assert_never

from controller.model import Assertion

_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_EXCERPT = 120


@dataclass(frozen=True)
class AssertionResult:
    """The outcome of one assertion."""

    type: str
    passed: bool
    message: str
    expected: Any = None


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per four characters, but never fewer than the number of words
    and punctuation marks (close to the SentencePiece / BPE counts of Gemini-class models for prose)."""
    return max(math.ceil(len(text) / 4), len(_WORDS.findall(text)))


def _excerpt(text: str) -> str:
    flat = text.replace("\n", "\\n")
    return json.dumps(flat if len(flat) <= _EXCERPT else flat[: _EXCERPT - 3] + "...", ensure_ascii=False)


def _json_schema(schema: dict[str, Any], response: str) -> tuple[bool, str]:
    import jsonschema  # type: ignore[import-untyped]  # runtime dependency; no stubs installed

    try:
        document = json.loads(response)
    except json.JSONDecodeError as err:
        return False, f"response is not JSON ({err.msg} at line {err.lineno} column {err.colno})"
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as err:
        return False, f"the assertion's schema is invalid: {err.message}"
    errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return True, "response matches the JSON Schema"
    first = errors[0]
    where = "/".join(str(p) for p in first.absolute_path) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return False, f"response does not match the JSON Schema at {where}: {first.message}{more}"


def _is_json(response: str) -> tuple[bool, str]:
    try:
        json.loads(response)
    except json.JSONDecodeError as err:
        return False, f"response is not JSON ({err.msg} at line {err.lineno} column {err.colno}): {_excerpt(response)}"
    return True, "response is JSON"


def check(assertion: Assertion, response: str) -> AssertionResult:
    """Run one assertion on a response."""
    kind, value = assertion.type, assertion.value
    match kind:
        case "contains":
            ok = value in response
            message = f"expected the response to contain {json.dumps(value)}"
        case "icontains":
            ok = value.casefold() in response.casefold()
            message = f"expected the response to contain {json.dumps(value)} (ignoring case)"
        case "not-contains":
            ok = value not in response
            message = f"expected the response not to contain {json.dumps(value)}"
        case "regex":
            ok = re.search(value, response) is not None
            message = f"expected the response to match /{value}/"
        case "equals":
            ok = response.strip() == value.strip()
            message = f"expected the response to equal {_excerpt(value)}"
        case "is-json":
            ok, message = _is_json(response)
            return AssertionResult(kind, ok, message)
        case "json-schema":
            ok, message = _json_schema(value, response)
            return AssertionResult(kind, ok, message, value)
        case "max-length":
            ok = len(response) <= value
            message = f"expected at most {value} characters, got {len(response)}"
            return AssertionResult(kind, ok, message, value)
        case "max-tokens":
            tokens = estimate_tokens(response)
            ok = tokens <= value
            message = f"expected at most {value} tokens, got about {tokens} (estimated)"
            return AssertionResult(kind, ok, message, value)
        case _:
            assert_never(kind)
    if not ok:
        message = f"{message}; got {_excerpt(response)}"
    return AssertionResult(kind, ok, message, value)
