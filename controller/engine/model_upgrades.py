"""`genaiops models outdated`: which manifest fields name a retired or retiring Gemini model, what to move
each one to, and the text edits that make the move.

`outdated_models` judges every place a manifest writes a Google publisher model id (`loader.model_refs`)
against the project's catalogue (the bundled one plus its `ModelLifecycle` rows) on a `Horizon`, and keeps
the retired and retiring ones, each with its position, its successor (followed past successors that retire
within the horizon too) and the Prompts that call it through a Model or TuningJob manifest.

`outdated_across` does the same over several ways the manifests are deployed (`Variant`s: the base and each
Environment's merge of it, as `validate` checks them) and lists each written value once, where it is
written: a value an environment's patch sets is the environment's row (its position in the environment
file, `environment` naming it), a value from a base file is the base's row however many environments
inherit it (the prompts using it gathered from all of them).

`planned_edits` turns the rows that have a successor into `TextEdit`s, and `edit_text` applies them to a
file's text: only the model id inside each scalar changes (a publisher path's `@version` suffix goes too,
as it names a version of the old model); quotes, comments and every other byte stay. It refuses with
`EditRefusedError` when the text at a position is not the value the manifests were loaded with, so a file
changed since it was read is never half-edited. Pure: no file is read or written here (`cli/manifest_edits`
does that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from controller.loader.checks import Located
from controller.loader.errors import format_path
from controller.loader.model_refs import ModelRef, outdated_refs
from controller.model.catalogue.lifecycle import Horizon, Lifecycle, ModelCatalogue, Stage
from controller.model.model_lifecycle import project_catalogue

_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # what YAML (libyaml) counts as a line break
_PLAIN_END = frozenset(" \t\r\n\x85\u2028\u2029,]}")  # what may follow a plain scalar that ends there


@dataclass(frozen=True)
class OutdatedModel:
    """One manifest field naming a retired or retiring model: where, what, until when, and what next."""

    ref: ModelRef
    lifecycle: Lifecycle
    file: str  # the file the value is written in
    line: int
    column: int
    used_by: tuple[str, ...]  # `Prompt/name` of the prompts calling it through a Model or TuningJob manifest
    environment: str | None = None  # the Environment whose patch sets the value (None: a base file's value)

    @property
    def manifest(self) -> str:
        """`Prompt/support-answer`."""
        return self.ref.item.label

    @property
    def path(self) -> str:
        """`spec.model`."""
        return format_path(self.ref.path)

    @property
    def model(self) -> str:
        """The publisher model id written there: `gemini-2.0-flash`."""
        return self.ref.model_id

    @property
    def stage(self) -> Stage:
        """Retired or retiring."""
        return self.lifecycle.stage

    @property
    def retires(self) -> date | None:
        """Its last available day."""
        return self.lifecycle.retires

    @property
    def days_left(self) -> int | None:
        """Days until its last day (negative: retired that many days ago, and a day more)."""
        return self.lifecycle.days_left

    @property
    def successor(self) -> str | None:
        """The model to move to (None: the catalogue names none)."""
        return self.lifecycle.successor

    @property
    def replacement(self) -> str | None:
        """The field's value after the move, when there is a successor and it changes the value."""
        if self.successor is None:
            return None
        new = self.ref.replaced(self.successor)
        return new if new != self.ref.value else None


def _order(row: OutdatedModel) -> tuple[str, int, int, str]:
    return (row.file, row.line, row.column, row.manifest)


def outdated_models(
    items: Iterable[Located],
    horizon: Horizon,
    catalogue: ModelCatalogue | None = None,
    *,
    environment: str | None = None,
) -> tuple[OutdatedModel, ...]:
    """Every field of `items` naming a model retired, or retiring within the horizon, on the horizon's day,
    by file, line and column. `catalogue` defaults to the bundled one plus the `ModelLifecycle` rows among
    `items`. `environment`: the Environment merged into `items`; a row whose value its patch set (the
    loader records the environment file for it) names it, one the base file wrote names none."""
    located = tuple(items)
    cat = catalogue if catalogue is not None else project_catalogue(item.manifest for item in located)
    rows: list[OutdatedModel] = []
    for judged in outdated_refs(located, horizon, cat):
        ref, lifecycle = judged.ref, judged.lifecycle
        file, line, column = ref.location
        patched = environment if ref.item.positions.overlay_file(ref.path) is not None else None
        rows.append(OutdatedModel(ref, lifecycle, file, line, column, judged.used_by, environment=patched))
    return tuple(sorted(rows, key=_order))


@dataclass(frozen=True)
class Variant:
    """One way the manifests are deployed: the base (`environment` None) or an Environment merged over it
    (`loader.load(root, env=NAME).manifests`)."""

    environment: str | None
    items: tuple[Located, ...]


def outdated_across(variants: Iterable[Variant], horizon: Horizon) -> tuple[OutdatedModel, ...]:
    """`outdated_models` of each variant, judged (as `validate` judges it) against the bundled catalogue
    with that variant's own `ModelLifecycle` rows (an environment may patch them), each written value listed
    once (by file, line, column and manifest): a base file's value every environment inherits is one row,
    naming no environment, whose `used_by` gathers the prompts of every variant; a value an environment's
    patch sets is that environment's row, at its position in the environment file. The first variant's row
    wins otherwise."""
    rows: dict[tuple[str, int, int, str], OutdatedModel] = {}
    for variant in variants:
        for row in outdated_models(variant.items, horizon, environment=variant.environment):
            key = _order(row)
            seen = rows.get(key)
            if seen is None:
                rows[key] = row
            elif not set(row.used_by) <= set(seen.used_by):
                rows[key] = replace(seen, used_by=tuple(sorted({*seen.used_by, *row.used_by})))
    return tuple(sorted(rows.values(), key=_order))


# --- Edits ------------------------------------------------------------------------------------------------


class EditRefusedError(ValueError):
    """The text at an edit's position is not the value the edit expects: nothing may be written."""


@dataclass(frozen=True)
class TextEdit:
    """Replace the scalar `old` starting at `line`:`column` (1-based; at its opening quote when quoted) of
    `file` with `new`. `path`, `model` and `successor` say what it means; `environment` names the
    Environment whose patch value it edits (None: a base manifest's)."""

    file: str
    line: int
    column: int
    old: str
    new: str
    path: str
    model: str
    successor: str
    environment: str | None = None

    def describe(self) -> str:
        """`manifests/prompts.yaml:7:10 spec.model: gemini-2.0-flash -> gemini-2.5-flash`; an environment's
        patch value ends `(environment prod)`."""
        dropped = self.old.partition(self.model)[2]
        notes = [f"version suffix {dropped} dropped"] if dropped else []
        if self.environment is not None:
            notes.append(f"environment {self.environment}")
        note = f" ({'; '.join(notes)})" if notes else ""
        return f"{self.file}:{self.line}:{self.column} {self.path}: {self.model} -> {self.successor}{note}"


def planned_edits(rows: Iterable[OutdatedModel]) -> tuple[TextEdit, ...]:
    """The edits moving each row that has a successor to it, one per position, in row order."""
    edits: dict[tuple[str, int, int], TextEdit] = {}
    for row in rows:
        new, successor = row.replacement, row.successor
        if new is None or successor is None:
            continue
        key = (row.file, row.line, row.column)
        edits.setdefault(
            key,
            TextEdit(
                row.file, row.line, row.column, row.ref.value, new, row.path, row.model, successor, row.environment
            ),
        )
    return tuple(edits.values())


def _line_starts(text: str) -> list[int]:
    return [0, *(found.end() for found in _LINE_BREAK.finditer(text))]


def _line_end(text: str, start: int) -> int:
    found = _LINE_BREAK.search(text, start)
    return found.start() if found is not None else len(text)


def value_span(text: str, edit: TextEdit) -> tuple[int, int]:
    """The offsets of `edit.old` inside its scalar in `text` (inside the quotes when quoted); EditRefusedError
    when the scalar at the edit's position is not exactly `edit.old`."""
    where = f"{edit.file}:{edit.line}:{edit.column} {edit.path}"
    starts = _line_starts(text)
    if not 1 <= edit.line <= len(starts) or edit.column < 1:
        raise EditRefusedError(f"{where}: the file has no such position (it changed since it was read)")
    line_start = starts[edit.line - 1]
    offset = line_start + edit.column - 1
    line_text = text[line_start : _line_end(text, line_start)]
    if offset >= line_start + len(line_text):
        raise EditRefusedError(f"{where}: the file has no such position (it changed since it was read)")
    quote = text[offset] if text[offset] in "'\"" else ""
    begin = offset + len(quote)
    end = begin + len(edit.old)
    after = text[end : end + 1]
    closed = after == quote if quote else (after == "" or after in _PLAIN_END)
    if text[begin:end] != edit.old or not closed:
        found = line_text[edit.column - 1 :].split(" #", 1)[0].strip()
        raise EditRefusedError(
            f"{where}: expected {edit.old!r} there, found {found!r} (the file changed since it was read, or the "
            "value is written in a way this edit does not handle); nothing was written"
        )
    return begin, end


def edit_text(text: str, edits: Sequence[TextEdit]) -> str:
    """`text` with every edit applied (all of them checked first: EditRefusedError and no change when one does not
    match). Each edit must be of this text's file; edits at one position apply once."""
    spans = sorted({(*value_span(text, edit), edit.new) for edit in edits}, reverse=True)
    for (begin, end, _), (next_begin, next_end, _) in zip(spans[1:], spans, strict=False):
        if end > next_begin:
            raise EditRefusedError(f"edits overlap at offsets {begin}-{end} and {next_begin}-{next_end}")
    out = text
    for begin, end, new in spans:
        out = out[:begin] + new + out[end:]
    return out


__all__ = [
    "EditRefusedError",
    "OutdatedModel",
    "TextEdit",
    "Variant",
    "edit_text",
    "outdated_across",
    "outdated_models",
    "planned_edits",
    "value_span",
]
