"""The calendar day model lifecycle is judged on, and the horizon within which a retirement is a warning.

`genaiops --today YYYY-MM-DD --retirement-horizon 60d COMMAND` (or GENAIOPS_TODAY, GENAIOPS_RETIREMENT_HORIZON)
sets them for every command: `validate`, `plan`, `apply`, `status`, `reconcile` and `models outdated` judge
the manifests' models on that day. Without `--today` it is the current UTC date, read when asked (a long
`reconcile --watch` crosses midnight).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import click

from controller.model.catalogue.lifecycle import DEFAULT_HORIZON_DAYS, Horizon, parse_day

TODAY_KEY = "genaiops.today"
HORIZON_KEY = "genaiops.retirement_horizon"
_DAYS = re.compile(r"^(\d+)\s*(d|w)?$")


def parse_days(text: str) -> int:
    """`60`, `60d` or `8w` -> days; ValueError with what was expected."""
    found = _DAYS.match(text.strip().lower())
    if found is None:
        raise ValueError(f"expected a number of days such as 60d or 8w, got {text!r}")
    return int(found.group(1)) * (7 if found.group(2) == "w" else 1)


def day_option(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Click callback for `--today`."""
    if value is None:
        return None
    try:
        return parse_day(value, "--today")
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


def days_option(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Click callback for `--retirement-horizon` / `--within`."""
    if value is None:
        return None
    try:
        return parse_days(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from None


def remember(ctx: click.Context, today: date | None, within_days: int | None) -> None:
    """Keep the group's `--today` / `--retirement-horizon` for the command that runs."""
    ctx.meta[TODAY_KEY] = today
    ctx.meta[HORIZON_KEY] = within_days


def pinned_today() -> date | None:
    """The group's `--today` (GENAIOPS_TODAY) for the running command, when given."""
    context = click.get_current_context(silent=True)
    pinned = context.meta.get(TODAY_KEY) if context is not None else None
    return pinned if isinstance(pinned, date) else None


def today() -> date:
    """The running command's day: `--today` (GENAIOPS_TODAY), else the current UTC date."""
    pinned = pinned_today()
    return pinned if pinned is not None else datetime.now(UTC).date()


def current_horizon(*, within_days: int | None = None) -> Horizon:
    """The running command's Horizon; `within_days` (a command's own `--within`) wins over the group's."""
    context = click.get_current_context(silent=True)
    configured = context.meta.get(HORIZON_KEY) if context is not None else None
    days = within_days if within_days is not None else configured
    return Horizon(today(), days if isinstance(days, int) else DEFAULT_HORIZON_DAYS)


def horizon_source() -> Callable[[], Horizon]:
    """The running command's Horizon, asked again by a long-running loop (a reconcile pass, a dashboard
    reload) that may run outside the command's thread and cross midnight: `--today` fixes the day, else each
    call takes the current UTC date; `--retirement-horizon` is kept."""
    first = current_horizon()
    if pinned_today() is not None:
        return lambda: first
    return lambda: replace(first, today=datetime.now(UTC).date())
