"""The one way the CLI builds a rich Console, so output reads well in a terminal and in a CI log alike.

On an interactive terminal rich keeps its defaults (colour, the terminal's width). Anywhere else (a pipe,
a file, a CI log, `TERM=dumb`) lines are never wrapped and tables never cut a cell: the width is `COLUMNS`
when it is set, else wide enough for any table, and printing soft-wraps (a long line stays one line, so it
greps and copies whole). Tables printed through `unclipped` fold an over-long cell onto the next line
instead of ending it with `…`, on a terminal too.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.rule import Rule
from rich.table import Table

WIDE = 1000  # columns when there is no terminal and no COLUMNS: any table fits, so no cell is folded
RULE_WIDTH = 100  # a horizontal rule spans at most this much (a wide console would draw 1000 dashes)


def interactive(stream: TextIO) -> bool:
    """A terminal a person reads: a tty whose TERM is not `dumb`."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def _number(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def make_console(*, stderr: bool = False) -> Console:
    """A Console for stdout (or stderr): rich defaults on a terminal; otherwise no wrapping, no truncation,
    `COLUMNS` (or a very wide width) for tables, and no colour."""
    stream = sys.stderr if stderr else sys.stdout
    if interactive(stream):
        return Console(stderr=stderr)
    # The height is given too: without it rich sizes a TERM=dumb terminal at 80x25 whatever the width says.
    return Console(stderr=stderr, width=_number("COLUMNS") or WIDE, height=_number("LINES") or 25, soft_wrap=True)


def unclipped(table: Table) -> Table:
    """`table` with every column folding an over-long cell onto more lines rather than cutting it."""
    for column in table.columns:
        column.overflow = "fold"
        column.no_wrap = False
    return table


def rule(title: str) -> RenderableType:
    """A titled horizontal rule no wider than `RULE_WIDTH`."""
    return _NarrowRule(title)


class _NarrowRule(Rule):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from super().__rich_console__(console, options.update_width(min(options.max_width, RULE_WIDTH)))


__all__ = ["WIDE", "interactive", "make_console", "rule", "unclipped"]
