"""Turn pydantic validation errors into diagnostics that name the field path, position and expectation."""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from controller.diagnostics import Diagnostic, Source
from controller.loader.yaml_source import Path, Positions


def format_path(path: Path) -> str:
    """`("spec", "deployments", 0, "model")` -> `spec.deployments[0].model`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@cache
def _all_field_names() -> tuple[str, ...]:
    """Every camelCase field name any manifest model accepts (for 'did you mean' hints)."""
    from controller.model import KINDS

    names: set[str] = set()
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
            for arg in _model_types(info.annotation):
                walk(arg)

    for kind in KINDS.values():
        walk(kind)
    return tuple(sorted(names))


def _model_types(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_model_types(arg))
    return found


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    loc = error["loc"]
    if kind == "extra_forbidden":
        field = str(loc[-1]) if loc else "?"
        hint = difflib.get_close_matches(field, _all_field_names(), n=1, cutoff=0.75)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown field {field!r}{suggestion}"
    if kind == "missing":
        return f"missing required field {str(loc[-1])!r}" if loc else "missing required field"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', '?')} (got {_short(error['input'])})"
    if kind == "string_pattern_mismatch":
        return f"{_short(error['input'])} does not match the pattern {ctx.get('pattern', '?')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (got {_short(error['input'])})"
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {_short(error['input'])})"


def validation_diagnostics(err: ValidationError, *, file: str, positions: Positions) -> list[Diagnostic]:
    """One diagnostic per pydantic error, positioned at the offending key or value."""
    out: list[Diagnostic] = []
    for error in err.errors(include_url=False):
        loc: Path = tuple(p for p in error["loc"] if isinstance(p, str | int))
        line, col = positions.of_key(loc) if error["type"] == "extra_forbidden" else positions.of_value(loc)
        path = loc[:-1] if error["type"] == "missing" else loc
        out.append(Diagnostic(_message(error), Source(file, line, col), format_path(path)))
    return out
