"""Turn pydantic validation errors into diagnostics that name the field path, position and expectation."""

from __future__ import annotations

import difflib
from datetime import date
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from controller.diagnostics import Diagnostic, Source
from controller.loader.yaml_source import Path, Positions
from controller.model.common import NAME_OR_ID_PATTERN, NAME_PATTERN


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
def _field_homes() -> dict[str, tuple[str, ...]]:
    """Every camelCase field name any manifest model accepts, with the fields it may appear under
    ("" for the top level); for 'did you mean' and 'belongs under' hints."""
    from controller.model import KINDS

    homes: dict[str, set[str]] = {}
    seen: set[tuple[type[BaseModel], str]] = set()

    def walk(model: type[BaseModel], parent: str) -> None:
        if (model, parent) in seen:
            return
        seen.add((model, parent))
        for name, info in model.model_fields.items():
            alias = info.alias or name
            homes.setdefault(alias, set()).add(parent)
            for arg in _model_types(info.annotation):
                walk(arg, alias)

    for kind in KINDS.values():
        walk(kind, "")
    return {name: tuple(sorted(parents)) for name, parents in sorted(homes.items())}


def _unknown_field(field: str) -> str:
    homes = _field_homes()
    parents = homes.get(field)
    if parents:
        where = " or ".join("the top level" if p == "" else repr(p) for p in parents)
        return f"unknown field {field!r} here; it belongs under {where}"
    hint = difflib.get_close_matches(field, list(homes), n=1, cutoff=0.75)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown field {field!r}{suggestion}"


def _name_problem(value: Any) -> str:
    """Why a string is not a valid resource name (lowercase, digits and '-', a letter first, <= 63)."""
    text = str(value)
    rule = "use lowercase letters, digits and '-', starting with a letter, at most 63 characters"
    if not text:
        reason = "it is empty"
    elif len(text) > 63:
        reason = f"it is {len(text)} characters long"
    elif any(c.isupper() for c in text):
        reason = "it has uppercase letters"
    elif not ("a" <= text[0] <= "z"):
        reason = f"it starts with {text[0]!r}"
    else:
        bad = sorted({c for c in text if not (c.isascii() and (c.islower() or c.isdigit() or c == "-"))})
        reason = f"it contains {', '.join(repr(c) for c in bad)}"
    return f"invalid name {_short(text)}: {reason}; {rule}"


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


_STRICT_TYPES = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false"}


def _strict_type_message(kind: str, value: Any) -> str:
    """Numbers and booleans are strict: say what was expected and, for quoted values, how to fix it."""
    wanted = _STRICT_TYPES[kind]
    if not isinstance(value, str):
        return f"expected {wanted} (got {_short(value)})"
    hint = "; remove the quotes" if _reads_as(kind, value) else ""
    return f"expected {wanted}, not text (got {_short(value)}{hint})"


def _reads_as(kind: str, text: str) -> bool:
    """True when quoted text would be the wanted type without its quotes (`"100"`, `"true"`)."""
    if kind == "bool_type":
        return text.strip().lower() in ("true", "false")
    try:
        number = float(text)
    except ValueError:
        return False
    return kind == "float_type" or number.is_integer()


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    loc = error["loc"]
    if kind == "extra_forbidden":
        return _unknown_field(str(loc[-1]) if loc else "?")
    if kind == "missing":
        return f"missing required field {str(loc[-1])!r}" if loc else "missing required field"
    if kind == "literal_error":
        return f"expected {ctx.get('expected', '?')} (got {_short(error['input'])})"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in (NAME_PATTERN, NAME_OR_ID_PATTERN):
        return _name_problem(error["input"])
    if kind == "string_pattern_mismatch":
        return f"{_short(error['input'])} does not match the pattern {ctx.get('pattern', '?')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "too_short":
        need = ctx.get("min_length", 1)
        return f"needs at least {need} item{'s' if need != 1 else ''} (got {ctx.get('actual_length', 0)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (got {_short(error['input'])})"
    if kind in _STRICT_TYPES:
        return _strict_type_message(kind, error["input"])
    if kind == "string_type" and isinstance(error["input"], bool | int | float | date):
        return (
            f"expected text (got {_short(error['input'])}: YAML reads unquoted yes/no/on/off, numbers and dates "
            "as other types; quote the value)"
        )
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {_short(error['input'])})"


def _clean_loc(error: ErrorDetails, positions: Positions) -> tuple[Path, bool]:
    """Drop pydantic's union-member tags (`literal['x']`, `str`, `MetricQuery`) from an error location,
    keeping only the parts that name keys or items of the document; True when any were dropped."""
    loc = error["loc"]
    names_a_field = error["type"] in ("missing", "extra_forbidden")
    kept: list[str | int] = []
    dropped = False
    for index, part in enumerate(loc):
        if not isinstance(part, str | int):
            dropped = True
            continue
        candidate = (*kept, part)
        if (
            isinstance(part, str)
            and not (names_a_field and index == len(loc) - 1)
            and candidate not in positions.values
            and candidate not in positions.keys
            and _looks_like_tag(part)
        ):
            dropped = True
            continue
        kept.append(part)
    return tuple(kept), dropped


def _looks_like_tag(part: str) -> bool:
    return "[" in part or part[:1].isupper() or part in _TYPE_TAGS


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "tuple", "dict", "set", "bytes"})


def _is_redundant(error: ErrorDetails, loc: Path, all_locs: list[Path]) -> bool:
    """A 'too short after validation' error on a list whose items failed repeats those failures."""
    if error["type"] != "too_short":
        return False
    return any(len(other) > len(loc) and other[: len(loc)] == loc for other in all_locs)


def validation_diagnostics(err: ValidationError, *, file: str, positions: Positions) -> list[Diagnostic]:
    """One diagnostic per problem, positioned at the offending key or value; the alternatives of a
    union that all failed at one place become one diagnostic."""
    errors = err.errors(include_url=False)
    cleaned = [_clean_loc(error, positions) for error in errors]
    all_locs = [loc for loc, _ in cleaned]
    out: list[tuple[Diagnostic, list[str]]] = []
    union_at: dict[Path, int] = {}
    for error, (loc, from_union) in zip(errors, cleaned, strict=True):
        if _is_redundant(error, loc, all_locs):
            continue
        message = _message(error)
        if from_union and loc in union_at:
            alternatives = out[union_at[loc]][1]
            if message not in alternatives:
                alternatives.append(message)
            continue
        if from_union:
            union_at[loc] = len(out)
        line, col = positions.of_key(loc) if error["type"] == "extra_forbidden" else positions.of_value(loc)
        path = loc[:-1] if error["type"] == "missing" else loc
        source = Source(positions.file_of(loc, file), line, col)
        out.append((Diagnostic(message, source, format_path(path)), [message]))
    return [
        diagnostic
        if len(alternatives) == 1
        else Diagnostic("no alternative fits: " + "; or ".join(alternatives), diagnostic.source, diagnostic.path)
        for diagnostic, alternatives in out
    ]
