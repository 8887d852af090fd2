"""Where a value sits in a JSON line, for the column of a diagnostic.

`json.loads` gives no positions, so when (and only when) a line has a problem, this walks the line again
with the standard library's scanner and records the character offset of every value by its field path
(`contents[1].parts[0].text`). A problem's column is that of the deepest part of its path that exists in
the line (a missing `role` points at its content object). Best effort: duplicate keys keep the last, as
`json.loads` does; anything unexpected leaves the column at 1.
"""

from __future__ import annotations

import contextlib
import json
import re

_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_LAST_STEP = re.compile(r"(\.[^.\[\]]*|\[\d+\])$")


def value_offsets(text: str) -> dict[str, int]:
    """0-based character offset of each value in `text`, keyed by field path ("" is the whole line)."""
    offsets: dict[str, int] = {}
    with contextlib.suppress(ValueError, IndexError, RecursionError):  # best effort: keep what was found
        _walk(text, _skip(text, 0), "", offsets)
    return offsets


def column_of(path: str, offsets: dict[str, int]) -> int:
    """1-based column of `path`, or of its deepest ancestor present in the line; 1 when nothing is known."""
    while True:
        if path in offsets:
            return offsets[path] + 1
        if not path:
            return 1
        shorter = _LAST_STEP.sub("", path)
        path = "" if shorter == path else shorter.lstrip(".")


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    return match.end() if match else index


def _walk(text: str, index: int, path: str, out: dict[str, int]) -> int:
    """Record the value at `index` and everything inside it; return the index just past it."""
    out[path] = index
    opening = text[index]
    if opening == "{":
        return _walk_object(text, index, path, out)
    if opening == "[":
        return _walk_array(text, index, path, out)
    _, end = _DECODER.raw_decode(text, index)
    return int(end)


def _walk_object(text: str, index: int, path: str, out: dict[str, int]) -> int:
    index = _skip(text, index + 1)
    if text[index] == "}":
        return index + 1
    while True:
        key, index = _DECODER.raw_decode(text, index)  # the key is a JSON string
        index = _skip(text, _skip(text, index) + 1)  # past the colon
        index = _skip(text, _walk(text, index, f"{path}.{key}" if path else key, out))
        if text[index] != ",":
            return index + 1
        index = _skip(text, index + 1)


def _walk_array(text: str, index: int, path: str, out: dict[str, int]) -> int:
    index = _skip(text, index + 1)
    if text[index] == "]":
        return index + 1
    position = 0
    while True:
        index = _skip(text, _walk(text, index, f"{path}[{position}]", out))
        if text[index] != ",":
            return index + 1
        index = _skip(text, index + 1)
        position += 1
