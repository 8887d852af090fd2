"""The strategic merge of one environment value over one raw manifest document, keeping source positions.

It works on the plain values `parse_documents` yields, before pydantic sees them, so the merged document is
validated as a whole and every error points into the right file: mappings merge key by key; a list whose
items are all mappings with a `name` merges by name (`{name: x, $patch: delete}` removes an item, an
unknown name appends one); other lists and scalars replace; `null` removes a key.

Positions follow the values: a value the overlay set takes its position in the environment file (re-rooted
from the patch's path to the document's path) and `Positions.files` records that file for it, so a
diagnostic on it names the environment file; base values keep theirs, moved along when a deleted list item
shifts the items after it. Every leaf value set (and every key or item removed) is recorded as an
`Override` with its origin. Problems (a bad `$patch`, deleting a name the list lacks) are diagnostics.
Nothing here mutates its inputs: merged containers are new, so the base stays loadable as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from controller.diagnostics import Diagnostic, Source
from controller.loader.errors import format_path
from controller.loader.yaml_source import Path, Positions
from controller.model import Override
from controller.model.suggest import did_you_mean

DIRECTIVE = "$patch"
DELETE = "delete"

# (path relative to an item, value position, key position, source file) of one moved list item.
_Snapshot = list[tuple[Path, tuple[int, int] | None, tuple[int, int] | None, str | None]]


def copy_positions(positions: Positions) -> Positions:
    """A copy that can be changed without touching the original."""
    return Positions(dict(positions.values), dict(positions.keys), dict(positions.files))


def is_named_list(items: list[Any]) -> bool:
    """True when every item is a mapping with a text `name` (the list merges by name)."""
    return all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in items)


def _walk(value: Any, at: Path) -> Iterator[Path]:
    """`at` and the path of every value under it."""
    yield at
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*at, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*at, index))


def _key(shown: str, key: str) -> str:
    return f"{shown}.{key}" if shown else key


@dataclass
class _Entry:
    """One item of a named list being merged: the base item (None for a new one), its positions taken out
    of the document while the list is rebuilt, and the patch items merged into it, in order."""

    name: str
    value: Any
    snapshot: _Snapshot
    patches: list[tuple[dict[str, Any], Path]] = field(default_factory=list)


@dataclass
class Overlay:
    """Merges values of one environment file into one document.

    `positions` is the merged document's (a copy of the base's, changed in place); `source` the environment
    document's. `overrides` holds the document's overrides by field path (a later value wins); `problems`
    is shared by every overlay of one load."""

    positions: Positions
    source: Positions
    file: str
    kind: str
    name: str
    overrides: dict[str, Override]  # this manifest's, by field path
    problems: list[Diagnostic]

    def merge(self, base: Any, patch: Any, *, at: Path, patch_at: Path, shown: str) -> Any:
        """`patch` (found at `patch_at` in the environment document) merged over `base` (at `at` in the
        document); `shown` is the field path for overrides, list items by name."""
        if isinstance(base, dict) and isinstance(patch, dict):
            return self.merge_map(base, patch, at=at, patch_at=patch_at, shown=shown)
        named = isinstance(base, list) and isinstance(patch, list) and patch and is_named_list(base)
        if named and is_named_list(patch):
            return self._merge_list(base, patch, at=at, patch_at=patch_at, shown=shown)
        self._drop(base, at)
        return self._graft(patch, at=at, patch_at=patch_at, shown=shown)

    def merge_map(self, base: dict[str, Any], patch: dict[str, Any], *, at: Path, patch_at: Path, shown: str) -> Any:
        """Key by key: a new key is added, `null` removes one, others merge."""
        out = dict(base)
        for key, value in patch.items():
            here, there, label = (*at, key), (*patch_at, key), _key(shown, key)
            if key == DIRECTIVE:
                self._problem(
                    there,
                    f"{DIRECTIVE} goes only in an item of a list of named items ({{name: x, {DIRECTIVE}: delete}} "
                    "removes it); to remove a key, set it to null",
                    key=True,
                )
            elif value is None:
                if key in out:
                    self._drop(out.pop(key), here)
                    self._record(label, None, there)
            elif key in out:
                out[key] = self.merge(out[key], value, at=here, patch_at=there, shown=label)
            else:
                out[key] = self._graft(value, at=here, patch_at=there, shown=label)
        return out

    def _merge_list(self, base: list[Any], patch: list[Any], *, at: Path, patch_at: Path, shown: str) -> list[Any]:
        """By name: items merge, `$patch: delete` removes one, an unknown name appends one. The items' positions
        are taken out first and put back at each item's new index (a deletion shifts the items after it)."""
        entries = [_Entry(item["name"], item, self._take((*at, index), item)) for index, item in enumerate(base)]
        for index, item in enumerate(patch):
            there = (*patch_at, index)
            name = item["name"]
            entry = next((e for e in entries if e.name == name), None)
            directive = item.get(DIRECTIVE)
            if directive is None:
                if entry is None:
                    entry = _Entry(name, None, [])
                    entries.append(entry)
                entry.patches.append((item, there))
            elif directive != DELETE:
                self._problem(
                    (*there, DIRECTIVE), f"{DIRECTIVE} must be 'delete' (got {directive!r}); other items merge by name"
                )
            elif entry is None:
                names = [e.name for e in entries]
                self._problem(
                    (*there, "name"),
                    f"{DIRECTIVE}: delete names no item of {shown}: there is no {name!r}{did_you_mean(name, names)} "
                    f"(have: {', '.join(names) or 'none'})",
                )
            else:
                entries.remove(entry)
                self._record(f"{shown}[{name}]", None, there)
        return [self._rebuild(entry, at=(*at, index), shown=shown) for index, entry in enumerate(entries)]

    def _rebuild(self, entry: _Entry, *, at: Path, shown: str) -> Any:
        value = entry.value
        label = f"{shown}[{entry.name}]"
        if value is not None:
            self._put(at, entry.snapshot)
        for item, there in entry.patches:
            if value is None:
                value = self._graft(item, at=at, patch_at=there, shown=label)
            else:
                rest = {key: child for key, child in item.items() if key != "name"}
                value = self.merge_map(value, rest, at=at, patch_at=there, shown=label)
        return value

    def _graft(self, patch: Any, *, at: Path, patch_at: Path, shown: str, top: bool = True) -> Any:
        """Place a value of the patch where the document had none (or one it replaces), with its positions;
        `null` keys inside it are left out, as they remove nothing."""
        if top:
            self.positions.files[at] = self.file
            self._forget(shown)
        self._place(at, patch_at)
        if isinstance(patch, dict):
            out: dict[str, Any] = {}
            for key, child in patch.items():
                if key == DIRECTIVE:
                    self._problem(
                        (*patch_at, key), f"{DIRECTIVE} goes only in an item of a list of named items", key=True
                    )
                elif child is not None:
                    out[key] = self._graft(
                        child, at=(*at, key), patch_at=(*patch_at, key), shown=_key(shown, key), top=False
                    )
            if not out:
                self._record(shown, out, patch_at)
            return out
        if isinstance(patch, list) and patch and is_named_list(patch):
            return self._graft_items(patch, at=at, patch_at=patch_at, shown=shown)
        if isinstance(patch, list):
            if any(isinstance(item, dict) and DIRECTIVE in item for item in patch):
                self._problem(patch_at, f"{DIRECTIVE}: delete needs a list whose items all have a name")
            for path in _walk(patch, ()):
                self._place((*at, *path), (*patch_at, *path))
        self._record(shown, patch, patch_at)
        return patch

    def _graft_items(self, patch: list[Any], *, at: Path, patch_at: Path, shown: str) -> list[Any]:
        out: list[Any] = []
        for index, item in enumerate(patch):
            there = (*patch_at, index)
            if DIRECTIVE in item:
                self._problem(
                    (*there, "name"),
                    f"{DIRECTIVE}: delete names no item of {shown}: the base has no such list here "
                    f"(no {item['name']!r} to delete)",
                )
                continue
            out.append(
                self._graft(item, at=(*at, len(out)), patch_at=there, shown=f"{shown}[{item['name']}]", top=False)
            )
        return out

    def _place(self, at: Path, patch_at: Path) -> None:
        found = self.source.values.get(patch_at)
        if found is not None:
            self.positions.values[at] = found
        key = self.source.keys.get(patch_at)
        if key is not None:
            self.positions.keys[at] = key

    def _drop(self, value: Any, at: Path) -> None:
        """Forget the positions (and source files) of `value` at `at` and of everything under it."""
        values, keys, files = self.positions.values, self.positions.keys, self.positions.files
        for path in _walk(value, at):
            values.pop(path, None)
            keys.pop(path, None)
            files.pop(path, None)

    def _take(self, at: Path, value: Any) -> _Snapshot:
        """Take the positions under `at` out of the document, relative to `at` (to put back elsewhere)."""
        values, keys, files = self.positions.values, self.positions.keys, self.positions.files
        depth = len(at)
        return [
            (path[depth:], values.pop(path, None), keys.pop(path, None), files.pop(path, None))
            for path in _walk(value, at)
        ]

    def _put(self, at: Path, snapshot: _Snapshot) -> None:
        for relative, value, key, file in snapshot:
            path = (*at, *relative)
            if value is not None:
                self.positions.values[path] = value
            if key is not None:
                self.positions.keys[path] = key
            if file is not None:
                self.positions.files[path] = file

    def _record(self, shown: str, value: Any, patch_at: Path) -> None:
        self._forget(shown)
        line, column = self.source.of_value(patch_at)
        override = Override(self.kind, self.name, shown, value, self.file, line, column)
        self.overrides[shown] = override

    def _forget(self, shown: str) -> None:
        """Drop overrides recorded at or under `shown` (a later value replaced them)."""
        stale = [key for key in self.overrides if key == shown or key.startswith((f"{shown}.", f"{shown}["))]
        for key in stale:
            del self.overrides[key]

    def _problem(self, path: Path, summary: str, *, key: bool = False) -> None:
        line, column = self.source.of_key(path) if key else self.source.of_value(path)
        self.problems.append(Diagnostic(summary, Source(self.file, line, column), format_path(path)))
