"""`filter` and `orderBy` of the Cloud Monitoring list calls on configuration resources (alert policies,
notification channels), and of Secret Manager's ListSecrets, with their paging.

Part of the local emulator (controller/emulator). The language is the one of Monitoring's "Sorting and
filtering" reference (https://cloud.google.com/monitoring/api/v3/sorting-and-filtering), as far as the
emulator needs it:

    user_labels.managed-by = "genaiops" AND NOT display_name : "test"
    (type = "slack" OR labels.channel_name = "#ops") user_label."genaiops-alert" != "x"

A field reference is a proto field path (snake_case or the JSON camelCase name), a map key after a dot
(quoted if need be) or in brackets (`user_labels["managed-by"]`); `user_label` is the documented singular
spelling of `user_labels`; a map alone asks for a key (`user_labels:"team"`). Comparators: `=`, `!=`, `:`
(has: a substring, or `*` for "is set"), `=~` / `!~` (regular expression, searched), `<`, `<=`, `>`, `>=`
(numbers when both sides are numbers). `AND` (also by juxtaposition), `OR`, `NOT` / `-` and parentheses.
A repeated field matches when one of its elements does. The functions of the full language (`.size`,
`.empty`, ...) are not emulated: such a filter is refused with INVALID_ARGUMENT saying so. A page token
continues only the query that produced it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from controller.emulator.api import ApiError
from controller.emulator.metrics_rpc import PageCursor, decode_token, encode_token, query_digest

T = TypeVar("T", bound=Message)
_ALIASES = {"user_label": "user_labels", "label": "labels"}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>=~|!~|!=|>=|<=|=|:|<|>)
      | (?P<punct>[()])
      | (?P<field>[A-Za-z_][\w-]*(?:\.(?:[A-Za-z_][\w-]*|"[^"]*"|'[^']*'))*(?:\[(?:"[^"]*"|'[^']*')\])?)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<minus>-)
    )""",
    re.VERBOSE,
)
_SEGMENT = re.compile(r"""[A-Za-z_][\w-]*|"[^"]*"|'[^']*'|\[(?:"[^"]*"|'[^']*')\]""")
Path = tuple[str, ...]


def invalid_field(field: str, text: str, why: str) -> ApiError:
    """INVALID_ARGUMENT naming the request field, in the API's words."""
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f'Field {field} had an invalid value of "{text}": {why}')


def _field_of(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    name = _ALIASES.get(name, name)
    found: FieldDescriptor | None = descriptor.fields_by_name.get(name)
    if found is None:
        found = next((f for f in descriptor.fields if f.json_name == name), None)
    return found


def parse_path(descriptor: Descriptor, text: str, *, request_field: str, whole: str) -> Path:
    """The proto field path of a field reference (map keys kept as they are); unknown fields are refused."""
    segments = [s.strip("[]").strip("\"'") for s in _SEGMENT.findall(text)]
    path: list[str] = []
    current: Descriptor | None = descriptor
    for index, segment in enumerate(segments):
        if current is None:
            raise invalid_field(request_field, whole, f"{text!r} does not name a field")
        field = _field_of(current, segment)
        if field is None:
            raise invalid_field(request_field, whole, f"unknown field {segment!r} in {text!r}")
        path.append(field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if index + 1 == len(segments):
                return tuple(path)  # the map itself: its keys (`user_labels:"team"`, a key is present)
            if index + 2 != len(segments):
                raise invalid_field(request_field, whole, f"{text!r}: a map field takes one key, as {field.name}.KEY")
            path.append(segments[index + 1])
            return tuple(path)
        wrapper = field.message_type is not None and field.message_type.full_name.startswith("google.protobuf.")
        current = None if wrapper else field.message_type
    return tuple(path)


def _scalar(field: Any, value: Any) -> str:
    if field.type == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Message):  # a google.protobuf wrapper (BoolValue...)
        return _scalar(value.DESCRIPTOR.fields_by_name["value"], getattr(value, "value"))  # noqa: B009
    return str(value)


def values_at(message: Message, path: Path) -> list[str]:
    """Every value at `path` in `message`, as text (enum names, `true`/`false`); [] when unset."""
    messages = [message]
    for index, name in enumerate(path):
        field = messages[0].DESCRIPTOR.fields_by_name[name] if messages else None
        if field is None:
            return []
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if is_map and index == len(path) - 1:
            return [str(key) for m in messages for key in getattr(m, name)]
        if is_map:
            key = path[index + 1]
            return [str(getattr(m, name)[key]) for m in messages if key in getattr(m, name)]
        last = index == len(path) - 1
        found: list[Any] = []
        for m in messages:
            if field.is_repeated:
                found.extend(getattr(m, name))
            elif field.message_type is None or m.HasField(name):
                found.append(getattr(m, name))
        if last or (field.message_type is not None and field.message_type.full_name.startswith("google.protobuf.")):
            return [_scalar(field, v) for v in found]
        messages = found
    return []


@dataclass(frozen=True)
class _Compare:
    path: Path
    op: str
    literal: str
    keys: bool = False  # the path names a map: its values are the map's keys, `:` asks for one exactly

    def matches(self, message: Message) -> bool:
        values = values_at(message, self.path)
        if self.op == "!=":
            return self.literal not in values
        if self.op == "!~":
            return not any(re.search(self.literal, v) for v in values)
        return any(self._one(v) for v in values)

    def _one(self, value: str) -> bool:
        match self.op:
            case "=":
                return value == self.literal
            case ":":
                return self.literal in ("*", value) if self.keys else self.literal == "*" or self.literal in value
            case "=~":
                return re.search(self.literal, value) is not None
        try:
            left, right = float(value), float(self.literal)
        except ValueError:
            left, right = value, self.literal  # type: ignore[assignment]
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[self.op]


@dataclass(frozen=True)
class _Bool:
    op: str  # AND | OR | NOT
    operands: tuple[_Node, ...]

    def matches(self, message: Message) -> bool:
        if self.op == "NOT":
            return not self.operands[0].matches(message)
        results = (o.matches(message) for o in self.operands)
        return all(results) if self.op == "AND" else any(results)


_Node = _Compare | _Bool


class _Parser:
    """or := and (OR and)*; and := unary ((AND)? unary)*; unary := (NOT | -) unary | ( or ) | compare."""

    def __init__(self, descriptor: Descriptor, text: str, request_field: str) -> None:
        self.descriptor, self.text, self.request_field = descriptor, text, request_field
        self.tokens = self._tokenize()
        self.pos = 0

    def _error(self, why: str) -> ApiError:
        return invalid_field(self.request_field, self.text, why)

    def _tokenize(self) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while self.text[pos:].strip():
            found = _TOKEN.match(self.text, pos)
            if found is None or found.lastgroup is None:
                raise self._error(f"cannot parse at offset {pos}: {self.text[pos : pos + 20]!r}")
            kind, value = found.lastgroup, found.group(found.lastgroup)
            if kind == "string":
                kind, value = "literal", re.sub(r"\\(.)", r"\1", value[1:-1])
            tokens.append((kind, value))
            pos = found.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> _Node:
        node = self._or()
        if self.pos != len(self.tokens):
            raise self._error(f"unexpected {self.tokens[self.pos][1]!r}")
        return node

    def _or(self) -> _Node:
        operands = [self._and()]
        while self._peek() == ("field", "OR"):
            self.pos += 1
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else _Bool("OR", tuple(operands))

    def _and(self) -> _Node:
        operands = [self._unary()]
        while (token := self._peek()) is not None and token not in (("field", "OR"), ("punct", ")")):
            if token == ("field", "AND"):
                self.pos += 1
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else _Bool("AND", tuple(operands))

    def _unary(self) -> _Node:
        token = self._peek()
        if token in (("field", "NOT"), ("minus", "-")):
            self.pos += 1
            return _Bool("NOT", (self._unary(),))
        if token == ("punct", "("):
            self.pos += 1
            inner = self._or()
            if self._peek() != ("punct", ")"):
                raise self._error("expected ')'")
            self.pos += 1
            return inner
        return self._compare()

    def _take(self) -> tuple[str, str] | None:
        token = self._peek()
        self.pos += token is not None
        return token

    def _compare(self) -> _Node:
        field, op, value = self._take(), self._take(), self._take()
        if field is None or field[0] != "field" or field[1] in ("AND", "OR", "NOT"):
            raise self._error(f"expected a field reference, found {field[1] if field else 'the end'!r}")
        if op is None or op[0] != "op":
            raise self._error(f"expected a comparator after {field[1]!r} (the emulator has no .size/.empty/functions)")
        if value is None or value[0] not in ("literal", "field", "number"):
            raise self._error(f"expected a value after {field[1]} {op[1]}")
        path = parse_path(self.descriptor, field[1], request_field=self.request_field, whole=self.text)
        if op[1] in ("=~", "!~"):
            try:
                re.compile(value[1])
            except re.error as err:
                raise self._error(f"bad regular expression {value[1]!r}: {err}") from None
        keys = _is_map(self.descriptor, path)
        if keys and op[1] != ":":
            raise self._error(f"a map field takes a key ({field[1]}.KEY), or `:` to ask whether it has one")
        return _Compare(path, op[1], value[1], keys)


def _is_map(descriptor: Descriptor, path: Path) -> bool:
    """True when `path` ends on a map field itself (no key after it)."""
    current: Any = descriptor
    for index, name in enumerate(path):
        field = current.fields_by_name[name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            return index == len(path) - 1
        current = field.message_type
        if current is None:
            return False
    return False


def compile_filter(descriptor: Descriptor, text: str, *, request_field: str = "filter") -> Callable[[Message], bool]:
    """A predicate for `text` over messages of `descriptor`; the empty filter matches everything."""
    if not text.strip():
        return lambda _message: True
    return _Parser(descriptor, text, request_field).parse().matches


def order(items: Sequence[T], descriptor: Descriptor, order_by: str) -> list[T]:
    """`items` sorted by `order_by` (`a.b,-c`: by each field's first value, `-` descending)."""
    ordered = list(items)
    keys = [k.strip() for k in order_by.split(",") if k.strip()]
    for key in reversed(keys):
        descending = key.startswith("-")
        path = parse_path(descriptor, key.lstrip("-"), request_field="order_by", whole=order_by)
        ordered.sort(key=lambda m: (values_at(m, path) or [""])[0], reverse=descending)
    return ordered


def page_of(items: Sequence[T], request: Any, *, default_size: int) -> tuple[list[T], str]:
    """One page of `items` for a list request (raw protobuf with page_size / page_token) and the next token."""
    if request.page_size < 0:
        raise invalid_field("page_size", str(request.page_size), "must not be negative")
    size = request.page_size or default_size
    digest = query_digest(request)
    start = decode_token(request.page_token, digest).series
    following = start + size
    token = encode_token(digest, PageCursor(following, 0)) if following < len(items) else ""
    return list(items[start:following]), token
