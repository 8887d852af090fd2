"""One streaming pass over a JSONL file: check every line (sft.py), count (stats.py), hash (sha256), and
keep the first problems with their file:line:column. What `data validate` and `data stats` run.

Memory stays bounded: one line at a time, counters, and at most `max_problems` diagnostics (the rest are
only counted, and their columns never computed). File-level limits of the docs (1 GB of JSONL, 1M
examples) are warnings at the end.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from controller.datasets.lines import MAX_LINE_BYTES, read_lines
from controller.datasets.positions import column_of, value_offsets
from controller.datasets.sft import MAX_EXAMPLE_TOKENS, MAX_FILE_BYTES, MAX_TRAINING_EXAMPLES, Problem, check_line
from controller.datasets.stats import DatasetStats
from controller.diagnostics import Diagnostic, Severity, Source

DEFAULT_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class ScanReport:
    """What one pass found."""

    file: str
    size_bytes: int
    sha256: str
    stats: DatasetStats
    diagnostics: tuple[Diagnostic, ...]  # the first `max_problems`, in file order
    omitted: int  # problems found beyond those

    @property
    def ok(self) -> bool:
        return self.stats.errors == 0


class ProblemKeeper:
    """Keeps the first `limit` problems as diagnostics and counts the rest."""

    def __init__(self, *, file: str, limit: int) -> None:
        self.file = file
        self.limit = limit
        self.kept: list[Diagnostic] = []
        self.omitted = 0

    def line(self, problems: tuple[Problem, ...], *, number: int, data: bytes) -> None:
        room = self.limit - len(self.kept)
        if room < len(problems):
            self.omitted += len(problems) - max(room, 0)
        if room <= 0:
            return
        offsets: dict[str, int] = {}
        if any(problem.column == 0 for problem in problems):  # only lines with a kept problem are walked again
            offsets = value_offsets(data.decode("utf-8", errors="replace"))
        located = sorted(
            ((problem.column or column_of(problem.path, offsets), index) for index, problem in enumerate(problems)),
        )
        for column, index in located[:room]:  # in the order they appear on the line
            problem = problems[index]
            self.keep(problem.message, line=number, column=column, path=problem.path, severity=problem.severity)

    def keep(self, summary: str, *, line: int = 0, column: int = 0, path: str = "", severity: Severity) -> None:
        if len(self.kept) >= self.limit:
            self.omitted += 1
            return
        source = Source(file=self.file, line=line, column=column)
        self.kept.append(Diagnostic(summary=summary, source=source, path=path, severity=severity))


def scan_file(
    path: Path,
    *,
    display_name: str | None = None,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    max_tokens: int = MAX_EXAMPLE_TOKENS,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ScanReport:
    """Check and count every line of `path`. Raises OSError when the file cannot be read."""
    name = display_name or str(path)
    stats = DatasetStats()
    keeper = ProblemKeeper(file=name, limit=max_problems)
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        for raw in read_lines(stream, max_bytes=max_line_bytes, feed=digest.update):
            if raw.oversize:
                stats.lines += 1
                stats.invalid_lines += 1
                stats.add_problem(error=True)
                message = f"line longer than {max_line_bytes:,} bytes: one example is far smaller; skipped"
                keeper.keep(message, line=raw.number, column=1, severity=Severity.ERROR)
                continue
            checked = check_line(raw.data, max_tokens=max_tokens)
            stats.add(checked, line=raw.number)
            if checked.problems:
                keeper.line(checked.problems, number=raw.number, data=raw.data)
        size = stream.tell()
    _file_limits(stats, keeper, size=size)
    return ScanReport(
        file=name,
        size_bytes=size,
        sha256=digest.hexdigest(),
        stats=stats,
        diagnostics=tuple(keeper.kept),
        omitted=keeper.omitted,
    )


def _file_limits(stats: DatasetStats, keeper: ProblemKeeper, *, size: int) -> None:
    if size > MAX_FILE_BYTES:
        stats.add_problem(error=False)
        keeper.keep(f"{size:,} bytes: over the 1 GB a JSONL training file may hold", severity=Severity.WARNING)
    if stats.examples > MAX_TRAINING_EXAMPLES:
        stats.add_problem(error=False)
        summary = (
            f"{stats.examples:,} examples: over the {MAX_TRAINING_EXAMPLES:,} text-only examples of a training set"
        )
        keeper.keep(summary, severity=Severity.WARNING)
    if stats.lines == 0:
        stats.add_problem(error=True)
        keeper.keep("empty file: expected one JSON example per line", severity=Severity.ERROR)
