"""Parse YAML text into plain values plus a map of source positions, safely.

Built on libyaml's event stream (the C parser) rather than `yaml.safe_load`, so that every value keeps the
line and column it came from, duplicate keys are caught (PyYAML silently keeps the last one), and hostile
input is refused early: a bound on nesting depth and on the expanded size of aliases (a "billion laughs"
document is rejected after a few thousand events, not after filling memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events as ev

Path = tuple[str | int, ...]

MAX_DEPTH = 64
MAX_NODES = 100_000  # expanded (aliases counted as often as they are used)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


class YamlError(Exception):
    """A document cannot be read; carries a 1-based position."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Positions:
    """Where each value (and each mapping key) starts, by field path; 1-based line and column."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    # Paths whose value came from another file (an environment's patch merged over this document): the
    # path -> that file. Every path under one of them is from that file too.
    files: dict[Path, str] = field(default_factory=dict)

    def overlay_file(self, path: Path) -> str | None:
        """The file of the overlay (an environment's patch) that set the value at `path` or one of its
        ancestors; None for a value the document itself wrote."""
        if self.files:
            for end in range(len(path), -1, -1):
                found = self.files.get(path[:end])
                if found is not None:
                    return found
        return None

    def file_of(self, path: Path, default: str) -> str:
        """The file the value at `path` came from: `default` (the document's file) unless an overlay set it
        or one of its ancestors."""
        overlay = self.overlay_file(path)
        return overlay if overlay is not None else default

    def of_value(self, path: Path) -> tuple[int, int]:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return (1, 1)

    def of_key(self, path: Path) -> tuple[int, int]:
        """Position of the key naming `path` (for unknown or duplicate fields), else of the value."""
        return self.keys.get(path) or self.of_value(path)


@dataclass
class Document:
    """One YAML document: its plain value and where each part of it came from."""

    index: int
    value: Any
    positions: Positions
    line: int


@dataclass
class _Frame:
    container: dict[str, Any] | list[Any]
    path: Path
    size: int = 1
    pending_key: str | None = None
    pending_key_pos: tuple[int, int] = (0, 0)
    merges: list[tuple[Any, tuple[int, int]]] = field(default_factory=list)  # (value, where '<<' is)
    anchor: str | None = None


def _pos(event: ev.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (1, 1) if mark is None else (mark.line + 1, mark.column + 1)


_IMPLICIT_FIRST = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k)
_ALWAYS_RESOLVE = None in _RESOLVER.yaml_implicit_resolvers


def _scalar(event: ev.ScalarEvent) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        value = event.value
        if tag == "!" or not event.implicit[0]:
            return value  # quoted or block scalars without a tag are strings
        if value and value[0] not in _IMPLICIT_FIRST and not _ALWAYS_RESOLVE:
            return value  # no implicit type (int, float, bool, null, timestamp...) starts with this character
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:merge":
        return "<<"
    build = _CONSTRUCTOR.yaml_constructors.get(tag)
    if build is None or tag in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
        line, col = _pos(event)
        raise YamlError(f"unsupported YAML tag {tag!r}", line, col)
    node = yaml.ScalarNode(tag, event.value, style=event.style)
    try:
        return build(_CONSTRUCTOR, node)
    except (yaml.YAMLError, ValueError, TypeError) as err:
        line, col = _pos(event)
        raise YamlError(f"cannot read {event.value!r} as {tag.rsplit(':', 1)[-1]}: {err}", line, col) from err


class _Builder:
    """Turns the events of one document into a value; raises YamlError on hostile or odd input."""

    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.positions = Positions()
        self.total = 0
        self.root: Any = None

    def _in_value_slot(self) -> bool:
        """True when the next node is a value (a list item or a mapping value), not a mapping key."""
        if not self.stack:
            return True
        top = self.stack[-1]
        return isinstance(top.container, list) or top.pending_key is not None

    def _child_path(self, event: ev.Event) -> Path:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if top.pending_key is None:
            line, col = _pos(event)
            raise YamlError("a mapping key must be a plain value, not a mapping or a list", line, col)
        return (*top.path, top.pending_key)

    def _count(self, size: int, event: ev.Event) -> None:
        self.total += size
        if self.total > MAX_NODES:
            line, col = _pos(event)
            raise YamlError(
                f"document too large once aliases are expanded (more than {MAX_NODES} values); "
                "refusing it (is this an alias bomb?)",
                line,
                col,
            )

    def _attach(self, value: Any, size: int, event: ev.Event, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        if isinstance(top.container, list):
            top.container.append(value)
            return
        key = top.pending_key
        if key is None:
            if not isinstance(value, str | int | float | bool) and value is not None:
                line, col = _pos(event)
                raise YamlError("a mapping key must be a plain value", line, col)
            text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            if text in top.container:
                line, col = _pos(event)
                raise YamlError(f"duplicate key {text!r} in this mapping", line, col)
            top.pending_key, top.pending_key_pos = text, _pos(event)
            self.positions.keys[(*top.path, text)] = top.pending_key_pos
            return
        if key == "<<":
            top.merges.append((value, top.pending_key_pos))
        else:
            top.container[key] = value
        top.pending_key = None

    def feed(self, event: ev.Event) -> None:
        kind = type(event)
        if kind is ev.ScalarEvent:
            self._on_scalar(event)  # type: ignore[arg-type]
        elif kind is ev.MappingStartEvent or kind is ev.SequenceStartEvent:
            self._on_start(event)  # type: ignore[arg-type]
        elif kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
            frame = self.stack.pop()
            if frame.merges and isinstance(frame.container, dict):
                _apply_merges(frame.container, frame.merges)
            self._attach(frame.container, frame.size, event, frame.anchor)
        elif kind is ev.AliasEvent:
            self._on_alias(event)  # type: ignore[arg-type]

    def _on_scalar(self, event: ev.ScalarEvent) -> None:
        value = _scalar(event)
        self.total += 1
        if self.total > MAX_NODES:
            self._count(0, event)
        stack = self.stack
        if stack and event.anchor is None:
            # Fast path for the common case: a plain value inside a list or under a pending key.
            top = stack[-1]
            container = top.container
            mark: Any = event.start_mark  # always set by libyaml
            if type(container) is list:
                self.positions.values[(*top.path, len(container))] = (mark.line + 1, mark.column + 1)
                container.append(value)
                top.size += 1
                return
            key = top.pending_key
            if key is None:
                if type(value) is str and value not in container and value != "<<":
                    top.pending_key = value
                    self.positions.keys[(*top.path, value)] = (mark.line + 1, mark.column + 1)
                    top.size += 1
                    return
            elif key != "<<":
                self.positions.values[(*top.path, key)] = (mark.line + 1, mark.column + 1)
                container[key] = value  # type: ignore[call-overload]
                top.size += 1
                top.pending_key = None
                return
        if self._in_value_slot():
            self.positions.values[self._child_path(event)] = _pos(event)
        self._attach(value, 1, event, event.anchor)

    def _on_start(self, event: ev.MappingStartEvent | ev.SequenceStartEvent) -> None:
        path = self._child_path(event)
        if event.tag is not None and event.tag != "!" and event.tag != _COLLECTION_TAG[type(event)]:
            line, col = _pos(event)
            raise YamlError(f"unsupported YAML tag {event.tag!r}", line, col)
        if len(self.stack) >= MAX_DEPTH:
            line, col = _pos(event)
            raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", line, col)
        self.positions.values[path] = _pos(event)
        container: dict[str, Any] | list[Any] = {} if type(event) is ev.MappingStartEvent else []
        self._count(1, event)
        self.stack.append(_Frame(container=container, path=path, anchor=event.anchor))

    def _on_alias(self, event: ev.AliasEvent) -> None:
        found = self.anchors.get(event.anchor or "")
        if found is None:
            line, col = _pos(event)
            raise YamlError(f"unknown alias *{event.anchor}", line, col)
        value, size = found
        if self._in_value_slot():
            self.positions.values[self._child_path(event)] = _pos(event)
        self._count(size, event)
        self._attach(value, size, event, None)


_COLLECTION_TAG: dict[type[ev.Event], str] = {
    ev.MappingStartEvent: "tag:yaml.org,2002:map",
    ev.SequenceStartEvent: "tag:yaml.org,2002:seq",
}


def _apply_merges(target: dict[str, Any], merges: list[tuple[Any, tuple[int, int]]]) -> None:
    for merge, (line, col) in merges:
        sources = merge if isinstance(merge, list) else [merge]
        for source in sources:
            if not isinstance(source, dict):
                raise YamlError("a merge key '<<' needs a mapping or a list of mappings", line, col)
            for key, value in source.items():
                target.setdefault(key, value)


def parse_documents(text: str) -> Iterator[Document]:
    """Yield each non-empty document of `text`; raises YamlError (1-based position) on bad input."""
    builder: _Builder | None = None
    index = -1
    start_line = 1
    parser = _Loader(text)
    try:
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if builder is not None and kind is not ev.DocumentEndEvent:
                builder.feed(event)
            elif kind is ev.DocumentStartEvent:
                index += 1
                builder = _Builder()
                start_line = _pos(event)[0]
            elif kind is ev.DocumentEndEvent:
                if builder is not None and builder.root is not None:
                    yield Document(index, builder.root, builder.positions, start_line)
                builder = None
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err, text) from err
    except yaml.YAMLError as err:
        raise YamlError(f"invalid YAML: {err}", 1, 1) from err
    finally:
        parser.dispose()


def _syntax_error(err: yaml.MarkedYAMLError, text: str) -> YamlError:
    """A libyaml error as a YamlError at the problem, naming where the unfinished construct began."""
    mark = err.problem_mark or err.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    lines = text.splitlines()
    if 0 < line <= len(lines) and lines[line - 1][col - 1 : col] == "\t":
        return YamlError("invalid YAML: a tab character where YAML expects spaces (indent with spaces)", line, col)
    problem = err.problem or "invalid YAML"
    context = ""
    if err.context:
        start = err.context_mark
        where = ""
        if start is not None and (start.line + 1, start.column + 1) != (line, col):
            where = f" that starts at line {start.line + 1}, column {start.column + 1}"
        context = f" ({err.context}{where})"
    return YamlError(f"invalid YAML: {problem}{context}", line, col)
