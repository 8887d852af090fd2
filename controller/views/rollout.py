"""Rollout views: one-line progress per measurement or move, a status table, the closing timeline, and
`rollout status` as a line per change or a versioned JSON document. Pure rendering: times are passed in.

`rollout status --output json` prints (one document, or with `--watch` one compact document per line per
change, JSON Lines); fields are only ever added within format 1.x:

    {"format_version": "1.0", "at": ISO-8601,
     "rollouts": [{"endpoint", "deployment", "revision", "phase", "step" (1-based, as `step 1/2` reads),
                   "steps", "weight" (canary % of the share), "share" (the deployment's % of the endpoint),
                   "finished", "waiting_for_human", "reason": Reason.to_json() | null, "failed_revision",
                   "measurements": [{"metric", "value", "threshold", "verdict", "requests", "detail"}],
                   "window": {"start", "end"} | null, "next_analysis_at": ISO-8601 | null}]}

Every rollout also has "kind" ("Endpoint" or "Prompt"); a prompt label's rollout has "prompt" and "label"
instead of "endpoint" and "deployment" (its "revision" is the candidate version, "share" is 100).
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from controller.rollout.events import EventKind, RolloutEvent, RolloutStatus, TargetKind
from controller.rollout.state import Phase
from controller.rollout.verdicts import Measurement, Shortfall, Verdict

FORMAT_VERSION = "1.0"
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
    """`error-rate 0.012 vs max 0.05 [ok]` style, coloured by verdict; too few requests says how many, in what
    window, against minRequests: `[? 12 requests in 1m, below minRequests 50]`."""
    value = "no data" if measurement.value is None else f"{measurement.value:.4g}"
    mark = {Verdict.SUCCESSFUL: "ok", Verdict.FAILED: "FAIL", Verdict.INCONCLUSIVE: "?", Verdict.ERROR: "error"}
    text = Text(f"{measurement.metric} {value} vs {measurement.threshold} ")
    lacking = f" {measurement.detail}" if measurement.shortfall is Shortfall.TOO_FEW_REQUESTS else ""
    text.append(f"[{mark[measurement.verdict]}{lacking}]", style=_VERDICT_STYLE[measurement.verdict])
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
    text = Text(f"{when} {event.name} ")
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


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _measured(status: RolloutStatus) -> Text:
    return Text("; ").join(measurement_text(m) for m in status.measurements) if status.measurements else Text("")


def _requests(status: RolloutStatus) -> str:
    """The canary's requests in the window measured (every metric of a run shares them)."""
    if not status.measurements:
        return ""
    count = max(m.requests for m in status.measurements)
    return f"{count} request{'' if count == 1 else 's'}"


def _why(status: RolloutStatus) -> str:
    state = status.state
    if state.reason is not None:
        return state.reason.describe()
    if status.at_indefinite_pause:
        return "indefinite pause: waits for `genaiops rollout promote`"
    return f"failed revision {state.failed_revision}" if state.failed_revision else ""


def _identity(status: RolloutStatus) -> str:
    return status.name


def _step(status: RolloutStatus) -> str:
    return f"{min(status.state.step + 1, status.steps)}/{status.steps}" if status.steps else "-"


def status_table(statuses: Sequence[RolloutStatus]) -> Table:
    """`rollout status`: one row per rollout, a line per metric measured. The measurements, reason and
    next-analysis columns appear only when some row fills them, so an apply's closing table stays narrow."""
    table = Table(title="Rollouts", title_justify="left")
    measured = any(s.measurements for s in statuses)
    explained = any(_why(s) for s in statuses)
    scheduled = any(s.next_at is not None for s in statuses)
    table.add_column("rollout", no_wrap=True, min_width=max((len(_identity(s)) for s in statuses), default=7))
    table.add_column("phase", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("canary weight")
    if measured:
        table.add_column("last measurements")
    if explained:
        table.add_column("reason")
    if scheduled:
        table.add_column("next (UTC)")
    for status in statuses:
        state = status.state
        row: list[str | Text] = [
            _identity(status),
            Text(state.phase.value, style=_PHASE_STYLE[state.phase]),
            _step(status),
            f"{status.weight}% of {status.share}%" if not state.phase.terminal else "-",
        ]
        if measured:
            cell = Text("\n").join(measurement_text(m) for m in status.measurements)
            row.append(cell.append(f"\n{_requests(status)}", style="dim") if status.measurements else cell)
        if explained:
            row.append(_why(status))
        if scheduled:
            row.append(_clock(status.next_at) if status.next_at is not None else "")
        table.add_row(*row)
    return table


def status_line(status: RolloutStatus, *, at: float) -> Text:
    """One line for `rollout status --watch` without a terminal: `12:00:03 chat/primary progressing step 1/2
    weight 20% of 100% | error-rate 0 vs max 0.05 [ok] | 87 requests | next analysis 12:00:04`."""
    state = status.state
    text = Text(f"{_clock(at)} {status.name} ")
    text.append(state.phase.value, style=_PHASE_STYLE[state.phase])
    text.append(f" step {_step(status)}")
    if not state.phase.terminal:
        text.append(f" weight {status.weight}% of {status.share}%")
    if status.measurements:
        text.append(" | ").append_text(_measured(status)).append(f" | {_requests(status)}")
    if why := _why(status):
        text.append(f" | {why}")
    if status.next_at is not None:
        text.append(f" | next analysis {_clock(status.next_at)}")
    return text


def change_key(status: RolloutStatus) -> Hashable:
    """What `--watch` calls a change: where the rollout stands and each metric's verdict, not the values
    and request counts that differ in every window."""
    state = status.state
    verdicts = tuple((m.metric, m.verdict) for m in status.measurements)
    return (
        state.revision,
        state.phase,
        state.step,
        status.weight,
        status.share,
        state.reason,
        state.failed_revision,
        status.waiting_for_human,
        verdicts,
    )


def change_keys(statuses: Sequence[RolloutStatus]) -> dict[str, Hashable]:
    """`change_key` of every rollout, by `endpoint/deployment`."""
    return {_identity(s): change_key(s) for s in statuses}


def changed(before: Mapping[str, Hashable], statuses: Sequence[RolloutStatus]) -> list[RolloutStatus]:
    """The rollouts that are new or changed since `before` (what `change_keys` gave last time)."""
    return [s for s in statuses if before.get(_identity(s)) != change_key(s)]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number is written as its text (`"inf"`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _rollout_json(status: RolloutStatus) -> dict[str, Any]:
    state = status.state
    window = status.window
    about = (
        {"kind": status.target.value, "endpoint": status.endpoint, "deployment": state.deployment}
        if status.target is TargetKind.ENDPOINT
        else {"kind": status.target.value, "prompt": status.endpoint, "label": state.deployment}
    )
    return {
        **about,
        "revision": state.revision,
        "phase": state.phase.value,
        "step": min(state.step + 1, status.steps),
        "steps": status.steps,
        "weight": status.weight,
        "share": status.share,
        "finished": status.finished,
        "waiting_for_human": status.waiting_for_human,
        "reason": state.reason.to_json() if state.reason is not None else None,
        "failed_revision": state.failed_revision or None,
        "measurements": [
            {
                "metric": m.metric,
                "value": m.value,
                "threshold": m.threshold,
                "verdict": m.verdict.value,
                "requests": m.requests,
                "detail": m.detail,
            }
            for m in status.measurements
        ],
        "window": {"start": _iso(window[0]), "end": _iso(window[1])} if window is not None else None,
        "next_analysis_at": _iso(status.next_at),
    }


def status_document(statuses: Sequence[RolloutStatus], *, at: float) -> dict[str, Any]:
    """`rollout status --output json` as plain data (see the module docstring)."""
    body = {"format_version": FORMAT_VERSION, "at": _iso(at), "rollouts": [_rollout_json(s) for s in statuses]}
    return dict(_finite(body))


def status_json(statuses: Sequence[RolloutStatus], *, at: float, one_line: bool = False) -> str:
    """The document as text: indented, or on one line (a JSON Lines record for `--watch`)."""
    document = status_document(statuses, at=at)
    if one_line:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False)


def timeline(events: Sequence[RolloutEvent]) -> list[Text]:
    """Every event, oldest first, with times relative to the first."""
    if not events:
        return [Text("(no rollout events)")]
    ordered = sorted(events, key=lambda e: e.at)
    return [event_line(e, start=ordered[0].at) for e in ordered]
