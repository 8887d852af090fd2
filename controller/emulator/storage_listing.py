"""Listing for the Cloud Storage emulator: prefix/delimiter folding, `matchGlob`, page tokens.

Used by `storage_store.py`. Entries are `(key, is_prefix, value)` in name order; a page token names the
last entry returned, so the next page starts after it (and after every name under it for a prefix).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from controller.emulator.storage_model import StoredObject, invalid


@dataclass(frozen=True)
class Page:
    """One page of a listing: entries, folded prefixes and the token of the next page."""

    items: list[Any]
    prefixes: list[str]
    next_token: str | None


def _encode_token(key: str, is_prefix: bool) -> str:
    return base64.urlsafe_b64encode(("p:" if is_prefix else "o:").encode() + key.encode()).decode()


def _decode_token(token: str) -> tuple[str, bool]:
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise invalid("Invalid page token.") from err
    if raw[:2] not in {"p:", "o:"}:
        raise invalid("Invalid page token.")
    return raw[2:], raw.startswith("p:")


def paginate(entries: Iterable[tuple[str, bool, Any]], max_results: int, token: str | None) -> Page:
    """Page sorted `(key, is_prefix, value)` entries; a page holds at most `max_results` entries.

    The token names the last entry returned; the next page starts after it (and after every name under
    it when it was a folded prefix).
    """
    after, after_prefix = _decode_token(token) if token else (None, False)
    items: list[Any] = []
    prefixes: list[str] = []
    last: tuple[str, bool] | None = None
    for key, is_prefix, value in entries:
        if after is not None and (key <= after or (after_prefix and key.startswith(after))):
            continue
        if len(items) + len(prefixes) >= max_results:
            return Page(items, prefixes, _encode_token(*last) if last is not None else None)
        (prefixes if is_prefix else items).append(value)
        last = (key, is_prefix)
    return Page(items, prefixes, None)


def fold(objects: list[StoredObject], prefix: str, delimiter: str, trailing: bool) -> Iterator[tuple[str, bool, Any]]:
    """Yield object entries, folding names that contain `delimiter` after `prefix` into prefixes."""
    last_prefix: str | None = None
    for obj in objects:
        rest = obj.name[len(prefix) :]
        cut = rest.find(delimiter) if delimiter else -1
        if cut < 0:
            yield obj.name, False, obj
            continue
        folded = prefix + rest[: cut + len(delimiter)]
        if trailing and obj.name == folded:
            yield obj.name, False, obj
        if folded != last_prefix:
            last_prefix = folded
            yield folded, True, folded


def glob_matcher(pattern: str) -> re.Pattern[str]:
    """Compile a `matchGlob`: `*` and `?` stay within a `/` segment, `**` crosses them (`**/` may match
    no directory at all), `[...]`/`[!...]` are character classes and `{a,b}` alternatives."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise invalid(f"Invalid matchGlob: {pattern!r}")
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body.replace("^", "\\^") + "]")
            i = end + 1
            continue
        if char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
        i += 1
    if depth:
        raise invalid(f"Invalid matchGlob: {pattern!r}")
    return re.compile("".join(out), re.DOTALL)
