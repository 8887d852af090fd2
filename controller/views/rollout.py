"""Rollout views: one-line progress per measurement or move, a status table, and the closing timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from controller.rollout.analysis import Measurement, Verdict
from controller.rollout.events import EventKind, RolloutEvent, RolloutStatus
from controller.rollout.state import Phase

_PHASE_STYLE = {Phase.PROGRESSING: "cyan", Phase.PAUSED: "yellow", Phase.HEALTHY: "green", Phase.DEGRADED: "red"}
_VERDICT_STYLE = {
    Verdict.SUCCESSFUL: "green",
    Verdict.FAILED: "red",
    Verdict.INCONCLUSIVE: "yellow",
    Verdict.ERROR: "yellow",
}
_EVENT_STYLE = {
    EventKind.PROMOTED: "bold green",
    EventKind.ABORTED: "bold red",
    EventKind.PAUSED: "yellow",
    EventKind.STEP: "cyan",
    EventKind.STARTED: "cyan",
}
_EVENT_WORD = {EventKind.STEP: "advanced", EventKind.ABORTED: "ROLLED BACK", EventKind.PROMOTED: "PROMOTED"}


def measurement_text(measurement: Measurement) -> Text:
    """`error-rate 0.012 vs max 0.05 ✓` style, coloured by verdict."""
    value = "no data" if measurement.value is None else f"{measurement.value:.4g}"
    mark = {Verdict.SUCCESSFUL: "ok", Verdict.FAILED: "FAIL", Verdict.INCONCLUSIVE: "?", Verdict.ERROR: "error"}
    text = Text(f"{measurement.metric} {value} vs {measurement.threshold} ")
    text.append(f"[{mark[measurement.verdict]}]", style=_VERDICT_STYLE[measurement.verdict])
    return text


def event_line(event: RolloutEvent, *, start: float | None = None) -> Text:
    """One line for the progress output or the timeline."""
    when = (
        f"+{event.at - start:5.1f}s"
        if start is not None
        else datetime.fromtimestamp(event.at, UTC).strftime("%H:%M:%S")
    )
    step = f"step {min(event.step + 1, event.steps)}/{event.steps}" if event.steps else ""
    weight = f" weight {event.weight}%" if event.weight is not None else ""
    text = Text(f"{when} {event.endpoint}/{event.deployment} ")
    text.append(_EVENT_WORD.get(event.kind, event.kind), style=_EVENT_STYLE.get(event.kind, ""))
    text.append(f" {step}{weight}")
    if event.measurements:
        text.append(" | ")
        for index, measurement in enumerate(event.measurements):
            if index:
                text.append("; ")
            text.append_text(measurement_text(measurement))
    elif event.detail:
        text.append(f" | {event.detail}")
    return text


def status_table(statuses: Sequence[RolloutStatus]) -> Table:
    """`rollout status`: one row per rollout."""
    table = Table(title="Rollouts", title_justify="left")
    for column in ("endpoint", "deployment", "phase", "step", "canary weight", "last measurements", "reason"):
        table.add_column(column)
    for status in statuses:
        state = status.state
        measured = (
            Text("; ").join(measurement_text(m) for m in status.measurements) if status.measurements else Text("")
        )
        step = f"{min(state.step + 1, status.steps)}/{status.steps}" if status.steps else "-"
        table.add_row(
            status.endpoint,
            state.deployment,
            Text(state.phase.value, style=_PHASE_STYLE[state.phase]),
            step,
            f"{status.weight}% of {status.share}%" if not state.phase.terminal else "-",
            measured,
            state.reason.describe()
            if state.reason is not None
            else (f"failed revision {state.failed_revision}" if state.failed_revision else ""),
        )
    return table


def timeline(events: Sequence[RolloutEvent]) -> list[Text]:
    """Every event, oldest first, with times relative to the first."""
    if not events:
        return [Text("(no rollout events)")]
    ordered = sorted(events, key=lambda e: e.at)
    return [event_line(e, start=ordered[0].at) for e in ordered]
