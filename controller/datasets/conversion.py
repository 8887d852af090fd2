"""`genaiops data convert`: CSV or prompt/completion JSONL in, Gemini supervised-tuning JSONL out.

Each input row becomes one example: an optional `systemInstruction`, then `contents` with one `user`
turn (the prompt) and one `model` turn (the completion), the shape sft.py checks. Inputs:

- CSV with a header row; the prompt and completion columns are named by options (default `prompt`,
  `completion`), an optional system column too. Quoted fields may span lines; a row's line is where
  it starts.
- JSONL with `prompt` and `completion` keys (or the keys named by options), or Vertex AI's older text
  tuning keys `input_text` / `output_text`; an optional `system` key.

Streaming: rows are read and written one at a time to a temporary file beside the target, renamed into
place at the end. A bad row (missing or empty prompt or completion, not an object) is an error with its
file:line:column and nothing is written, unless `skip_invalid` asks to skip it (then it is a warning).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from controller.datasets.lines import MAX_LINE_BYTES, read_lines
from controller.datasets.scan import DEFAULT_MAX_PROBLEMS, ProblemKeeper
from controller.datasets.sft import Problem
from controller.diagnostics import Diagnostic, Severity
from controller.errors import UserError

SourceFormat = Literal["csv", "jsonl"]
LEGACY_KEYS = {"prompt": "input_text", "completion": "output_text"}


@dataclass(frozen=True)
class Columns:
    """Which fields of a row hold the prompt, the completion and (optionally) a system instruction."""

    prompt: str = "prompt"
    completion: str = "completion"
    system: str | None = "system"


@dataclass(frozen=True)
class ConvertReport:
    """What a conversion wrote and found."""

    written: int
    skipped: int
    diagnostics: tuple[Diagnostic, ...]
    omitted: int
    errors: int

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.written > 0


def example(*, prompt: str, completion: str, system: str | None = None) -> dict[str, object]:
    """One Gemini supervised-tuning example: the prompt as the user turn, the completion as the model's."""
    document: dict[str, object] = {}
    if system:
        document["systemInstruction"] = {"role": "system", "parts": [{"text": system}]}
    document["contents"] = [
        {"role": "user", "parts": [{"text": prompt}]},
        {"role": "model", "parts": [{"text": completion}]},
    ]
    return document


def from_row(
    row: Mapping[str, object], *, columns: Columns, system: str | None = None
) -> tuple[dict[str, object] | None, tuple[Problem, ...]]:
    """Convert one row (a CSV record or a JSON object); `system` is used when the row has none."""
    if "contents" in row:
        return None, (Problem("contents", "already in the Gemini format: validate it with `data validate`"),)
    problems: list[Problem] = []
    texts: dict[str, str] = {}
    for role, name in (("prompt", columns.prompt), ("completion", columns.completion)):
        key = name if name in row or LEGACY_KEYS.get(name) not in row else LEGACY_KEYS[name]
        value = row.get(key)
        if key not in row:
            problems.append(Problem(key, f"missing the {role} (expected a `{name}` field)"))
        elif not isinstance(value, str) or not value.strip():
            problems.append(Problem(key, f"expected a non-empty {role} string (got {json.dumps(value)})"))
        else:
            texts[role] = value
    row_system = row.get(columns.system) if columns.system else None
    if row_system is not None and not isinstance(row_system, str):
        problems.append(Problem(str(columns.system), f"expected a string (got {json.dumps(row_system)})"))
    if problems:
        return None, tuple(problems)
    chosen = row_system if isinstance(row_system, str) and row_system.strip() else system
    return example(prompt=texts["prompt"], completion=texts["completion"], system=chosen), ()


def guess_format(source: Path) -> SourceFormat:
    """By the file's extension: `.csv` is CSV, `.jsonl` / `.json` / `.ndjson` JSONL."""
    suffix = source.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    raise UserError(f"{source}: cannot tell the format from the extension {suffix!r}; pass --from csv or jsonl")


def convert_file(
    source: Path,
    target: Path,
    *,
    source_format: SourceFormat,
    columns: Columns = Columns(),
    system: str | None = None,
    skip_invalid: bool = False,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> ConvertReport:
    """Convert `source` into `target`; `target` is written only when the report is ok. Raises UserError for a
    CSV without the named columns, OSError when a file cannot be read or written."""
    if target.resolve() == source.resolve():
        raise UserError(f"{target}: refusing to overwrite the input file")
    keeper = ProblemKeeper(file=str(source), limit=max_problems)
    severity = Severity.WARNING if skip_invalid else Severity.ERROR
    written = skipped = errors = 0
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as out:
            for row in _rows(source, source_format=source_format, columns=columns):
                converted_row, problems = (
                    from_row(row.fields, columns=columns, system=system)
                    if row.fields is not None
                    else (None, row.problems)
                )
                if converted_row is None:
                    skipped += 1
                    errors += 0 if skip_invalid else len(problems)
                    located = tuple(Problem(p.path, p.message, severity, p.column) for p in problems)
                    keeper.line(located, number=row.number, data=row.text)
                    continue
                out.write(json.dumps(converted_row, ensure_ascii=False) + "\n")
                written += 1
        if written == 0 and errors == 0:
            errors += 1
            keeper.keep("no example to write: every row was skipped or the file is empty", severity=Severity.ERROR)
        report = ConvertReport(written, skipped, tuple(keeper.kept), keeper.omitted, errors)
        if report.ok:
            os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return report


@dataclass(frozen=True)
class _Row:
    """One input row: its fields, or why it is no row; `text` is the JSONL line (for columns), else b""."""

    number: int
    fields: Mapping[str, object] | None
    problems: tuple[Problem, ...] = ()
    text: bytes = b""


def _rows(source: Path, *, source_format: SourceFormat, columns: Columns) -> Iterator[_Row]:
    """Every row of `source`, in order."""
    if source_format == "csv":
        with source.open(encoding="utf-8-sig", newline="") as stream:
            yield from _csv_rows(stream, name=str(source), columns=columns)
        return
    with source.open("rb") as binary:
        for raw in read_lines(binary, max_bytes=MAX_LINE_BYTES):
            if not raw.data.strip() and not raw.oversize:
                continue  # blank lines in a prompt/completion file are not examples
            yield _jsonl_row(raw.number, raw.data, oversize=raw.oversize)


def _jsonl_row(number: int, data: bytes, *, oversize: bool) -> _Row:
    if oversize:
        return _Row(number, None, (Problem("", f"line longer than {MAX_LINE_BYTES:,} bytes", column=1),))
    try:
        value = json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as err:
        return _Row(number, None, (Problem("", f"not valid JSON: {err.msg}", column=err.colno),))
    except (UnicodeDecodeError, RecursionError):
        return _Row(number, None, (Problem("", "not valid JSON: not UTF-8 or nested too deeply", column=1),))
    if not isinstance(value, dict):
        return _Row(number, None, (Problem("", "expected a JSON object with a prompt and a completion", column=1),))
    return _Row(number, value, text=data)


def _csv_rows(stream: TextIO, *, name: str, columns: Columns) -> Iterator[_Row]:
    reader = csv.DictReader(stream)
    header = list(reader.fieldnames or [])
    missing = [c for c in (columns.prompt, columns.completion) if c not in header]
    if missing:
        have = ", ".join(header) if header else "no header row"
        raise UserError(f"{name}:1:1: expected the column(s) {', '.join(missing)} (have: {have}); see --prompt-column")
    start = reader.line_num + 1
    for record in reader:
        extra = record.get(None)  # DictReader files surplus fields under None
        if extra:
            message = f"{len(header) + len(extra)} fields where the header names {len(header)}"
            yield _Row(start, None, (Problem("", message, column=1),))
        else:
            yield _Row(start, {k: v for k, v in record.items() if isinstance(k, str) and v is not None})
        start = reader.line_num + 1
