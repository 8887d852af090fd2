"""Resource names, id and label rules, list filters, ordering and page tokens, as Vertex AI has them.

Shared by the endpoint and model services; every rule violation is an `ApiError` with the status the
real API returns (INVALID_ARGUMENT for malformed input).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from controller.emulator.api import ApiError

T = TypeVar("T")

ENDPOINT_ID = re.compile(r"^(?:[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?|[1-9][0-9]{0,8})$")
MODEL_ID = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
DEPLOYED_MODEL_ID = re.compile(r"^[0-9]{1,10}$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
VERSION_ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")
MAX_LABELS = 64
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_PARENT = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")
_RESOURCE = re.compile(r"^(projects/[^/]+/locations/[^/]+)/(endpoints|models)/([^/@]+)(?:@([^/]+))?$")


def invalid(message: str) -> ApiError:
    """An INVALID_ARGUMENT error."""
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(what: str, name: str) -> ApiError:
    """A NOT_FOUND error for a named resource."""
    return ApiError(grpc.StatusCode.NOT_FOUND, f"{what} {name} not found.")


def failed_precondition(message: str) -> ApiError:
    """A FAILED_PRECONDITION error."""
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message)


def check_parent(parent: str) -> str:
    """Validate `projects/P/locations/L` and return it."""
    if not _PARENT.match(parent):
        raise invalid(f"Invalid parent: {parent!r}; expected projects/PROJECT/locations/LOCATION.")
    return parent


@dataclass(frozen=True)
class ResourceName:
    """A parsed `projects/P/locations/L/{endpoints|models}/ID[@VERSION]`."""

    parent: str
    collection: str
    resource_id: str
    version: str  # "" when absent

    @property
    def name(self) -> str:
        """The name without a version suffix."""
        return f"{self.parent}/{self.collection}/{self.resource_id}"

    @property
    def project(self) -> str:
        """The project segment."""
        return self.parent.split("/")[1]

    @property
    def location(self) -> str:
        """The location segment."""
        return self.parent.split("/")[3]


def parse_name(name: str, collection: str, *, allow_version: bool = False) -> ResourceName:
    """Parse a resource name of the given collection ("endpoints" or "models")."""
    match = _RESOURCE.match(name)
    if not match or match.group(2) != collection or (match.group(4) and not allow_version):
        raise invalid(f"Invalid resource name: {name!r}.")
    return ResourceName(match.group(1), match.group(2), match.group(3), match.group(4) or "")


def check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Validate labels as Vertex AI does; returns a plain dict copy."""
    if len(labels) > MAX_LABELS:
        raise invalid(f"At most {MAX_LABELS} labels are allowed, got {len(labels)}.")
    for key, value in labels.items():
        if not LABEL_KEY.match(key):
            raise invalid(f"Invalid label key {key!r}: lowercase letters, digits, '_' and '-', start letter.")
        if not LABEL_VALUE.match(value):
            raise invalid(f"Invalid label value {value!r} for key {key!r}.")
    return dict(labels)


def mask_paths(paths: Sequence[str]) -> list[str]:
    """Update-mask paths in snake_case (REST clients may send camelCase)."""
    return [re.sub(r"(?<!^)(?=[A-Z])", "_", p).lower() for p in paths]


# -- filters -----------------------------------------------------------------------------------------
_TERM = re.compile(r'\s*(?P<field>[A-Za-z_][\w.-]*)\s*(?P<op>!=|=|:)\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s"()]+)')
_CONNECTOR = re.compile(r"\s+(?P<word>AND|OR|NOT)\s+|\s+")


@dataclass(frozen=True)
class _Term:
    field: str
    op: str
    value: str

    def matches(self, fields: Mapping[str, str], labels: Mapping[str, str]) -> bool:
        if self.field.startswith("labels."):
            actual = labels.get(self.field.removeprefix("labels."))
        else:
            actual = fields[self.field]
        if self.op == ":":
            return actual is not None and (self.value == "*" or self.value in actual)
        equal = actual == self.value
        return equal if self.op == "=" else not equal


def parse_filter(text: str, fields: Collection[str]) -> list[_Term]:
    """Parse a conjunction of `field=value`, `field!=value`, `labels.k:*` terms (`AND` or space)."""
    terms: list[_Term] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        match = _TERM.match(text, pos)
        if not match:
            raise invalid(f"Invalid filter {text!r} at position {pos}.")
        value = match.group("value")
        if value.startswith('"'):
            value = json.loads(value)
        field = match.group("field")
        if not (field.startswith("labels.") or field in fields):
            raise invalid(f"Unsupported filter field {field!r}; supported: labels.KEY, {sorted(fields)}.")
        terms.append(_Term(field, match.group("op"), value))
        pos = match.end()
        sep = _CONNECTOR.match(text, pos)
        if sep:
            if sep.group("word") in ("OR", "NOT"):
                raise invalid(f"Unsupported filter operator {sep.group('word')} in {text!r}.")
            pos = sep.end()
        elif pos < len(text):
            raise invalid(f"Invalid filter {text!r} at position {pos}.")
    return terms


def filter_items(
    items: Sequence[T],
    text: str,
    view: Callable[[T], tuple[Mapping[str, str], Mapping[str, str]]],
    fields: Collection[str],
) -> list[T]:
    """Keep the items whose (fields, labels) view satisfies every term of the filter over `fields`."""
    terms = parse_filter(text, fields)
    return [item for item in items if all(term.matches(*view(item)) for term in terms)]


def order_items(items: Sequence[T], order_by: str, keys: Mapping[str, Callable[[T], Any]]) -> list[T]:
    """Sort by a comma-separated `field [desc]` list; unknown fields are rejected."""
    result = list(items)
    clauses = [c.split() for c in order_by.split(",") if c.strip()]
    for clause in reversed(clauses):
        field, direction = clause[0], (clause[1].lower() if len(clause) > 1 else "asc")
        if field not in keys or direction not in ("asc", "desc") or len(clause) > 2:
            raise invalid(f"Unsupported order_by: {order_by!r}.")
        result.sort(key=keys[field], reverse=direction == "desc")
    return result


def paginate(items: Sequence[T], page_size: int, page_token: str) -> tuple[list[T], str]:
    """One page of `items` and the token of the next page ("" on the last page)."""
    if page_size < 0:
        raise invalid("page_size must not be negative.")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = 0
    if page_token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(page_token.encode()))["offset"])
        except (ValueError, KeyError, TypeError) as err:
            raise invalid(f"Invalid page_token: {page_token!r}.") from err
    page = list(items[offset : offset + size])
    more = offset + size < len(items)
    token = base64.urlsafe_b64encode(json.dumps({"offset": offset + size}).encode()).decode() if more else ""
    return page, token
