"""The CLI's console factory (`controller/cli/console.py`): rich's defaults on a terminal; in a pipe, a
file or with TERM=dumb (a CI log) no line is wrapped, `COLUMNS` sets the width tables fit in, and tables
fold a long cell instead of cutting it with `…`."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console
from rich.table import Table

from controller.cli.console import RULE_WIDTH, WIDE, make_console, rule, unclipped

LONG = "Rolled back chat/primary: error-rate 0.4615 > max 0.05 over 13 requests; " * 3


class Stream(io.StringIO):
    def __init__(self, *, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _console_on(
    monkeypatch: pytest.MonkeyPatch, *, tty: bool, term: str = "xterm", columns: str | None = None
) -> tuple[Console, Stream]:
    stream = Stream(tty=tty)
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setenv("TERM", term)
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    return make_console(), stream


def _table() -> Table:
    table = Table(title="Rollouts")
    for column in ("rollout", "reason"):
        table.add_column(column)
    table.add_row("chat/primary", LONG)
    return table


def test_without_a_terminal_a_long_line_stays_one_line_and_a_table_is_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    console, stream = _console_on(monkeypatch, tty=False)
    assert console.width == WIDE and not console.is_terminal
    console.print(LONG.strip())
    console.print(unclipped(_table()))
    lines = stream.getvalue().splitlines()
    assert lines[0] == LONG.strip()
    assert "…" not in stream.getvalue() and "\x1b[" not in stream.getvalue()
    assert any(LONG.strip() in line for line in lines[1:])  # the whole cell on one row


def test_columns_sets_the_width_tables_fold_into_but_lines_still_do_not_wrap(monkeypatch: pytest.MonkeyPatch) -> None:
    console, stream = _console_on(monkeypatch, tty=False, columns="60")
    assert console.width == 60
    console.print(LONG.strip())
    console.print(unclipped(_table()))
    lines = stream.getvalue().splitlines()
    assert lines[0] == LONG.strip()
    assert "…" not in stream.getvalue()
    assert all(len(line) <= 60 for line in lines[1:])
    cells = "".join(line.split("│")[2].strip() for line in lines if line.count("│") == 3)
    assert cells.replace(" ", "") == LONG.replace(" ", "")  # folded onto more rows, nothing lost


def test_term_dumb_on_a_tty_is_treated_as_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    console, _ = _console_on(monkeypatch, tty=True, term="dumb")
    assert console.width == WIDE and console.soft_wrap


def test_an_interactive_terminal_keeps_richs_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    console, _ = _console_on(monkeypatch, tty=True, columns="90")
    assert console.width == 90 and not console.soft_wrap


def test_a_rule_is_never_wider_than_its_limit_on_a_wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    console, stream = _console_on(monkeypatch, tty=False)
    console.print(rule("1. Apply"))
    (line,) = stream.getvalue().splitlines()
    assert len(line) == RULE_WIDTH and "1. Apply" in line
