"""Typed template variables: values checked against their declarations (a JSON-Schema subset: `type`,
`enum`, `maxLength`, `required`, `default`) before a template is rendered, and command-line values
(`--var k=v`) read as the declared type. Pure.

Problems come back as `VariableProblem`s naming the variable; the renderer adds the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.model import Variable

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "array": "an array (a list)",
    "object": "an object (a mapping)",
}


@dataclass(frozen=True)
class VariableProblem:
    """What is wrong with one variable; `kind` is missing, type, enum, length or unknown."""

    variable: str
    kind: str
    message: str


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def type_matches(declared: str, value: Any) -> bool:
    """JSON Schema's type test: integers are numbers too; booleans are neither."""
    actual = _json_type(value)
    return actual == declared or (declared == "number" and actual == "integer")


def problem_with(name: str, decl: Variable, value: Any) -> VariableProblem | None:
    """The first thing wrong with `value` for the declaration, or None."""
    if not type_matches(decl.type, value):
        return VariableProblem(
            name,
            "type",
            f"variable {name!r} must be {_TYPE_NAMES[decl.type]} (got {_json_type(value)} {_shown(value)})",
        )
    if decl.enum is not None and value not in decl.enum:
        allowed = ", ".join(_shown(v) for v in decl.enum)
        return VariableProblem(name, "enum", f"variable {name!r} must be one of {allowed} (got {_shown(value)})")
    if decl.max_length is not None and isinstance(value, str | list | tuple) and len(value) > decl.max_length:
        unit = "characters" if isinstance(value, str) else "items"
        return VariableProblem(
            name,
            "length",
            f"variable {name!r} is {len(value)} {unit} long; at most {decl.max_length} are allowed",
        )
    return None


def resolve(
    declared: Mapping[str, Variable], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[VariableProblem]]:
    """The render context (values plus defaults) and every problem: unknown, missing, mistyped variables."""
    context: dict[str, Any] = {}
    problems: list[VariableProblem] = []
    for name in values:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            problems.append(VariableProblem(name, "unknown", f"variable {name!r} is not declared (declared: {known})"))
    for name, decl in declared.items():
        if name in values:
            value = values[name]
        elif decl.default is not None:
            value = decl.default
        elif decl.required:
            problems.append(VariableProblem(name, "missing", f"required variable {name!r} is not set"))
            continue
        else:
            continue  # optional without a default: the template decides (`is defined`, `default(...)`)
        problem = problem_with(name, decl, value)
        if problem is not None:
            problems.append(problem)
        else:
            context[name] = value
    return context, problems


def coerce(name: str, decl: Variable | None, raw: str) -> Any:
    """A command-line value read as the declared type; strings stay as typed. Raises ValueError."""
    kind = "string" if decl is None else decl.type
    try:
        match kind:
            case "string":
                return raw
            case "integer":
                return int(raw)
            case "number":
                return float(raw)
            case "boolean":
                lowered = raw.strip().lower()
                if lowered not in ("true", "false"):
                    raise ValueError("expected true or false")
                return lowered == "true"
            case _:
                return json.loads(raw)
    except (ValueError, json.JSONDecodeError) as err:
        raise ValueError(f"--var {name}: cannot read {raw!r} as {_TYPE_NAMES[kind]}: {err}") from err


def parse_assignments(pairs: tuple[str, ...], declared: Mapping[str, Variable]) -> dict[str, Any]:
    """`("k=v", ...)` from `--var` into typed values. Raises ValueError on a pair without `=`."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--var needs NAME=VALUE (got {pair!r})")
        values[name] = coerce(name, declared.get(name), raw)
    return values
