"""`rollout status` below the CLI: the window it measures (pure), the driver's read-only status and its
watch loop (fake ports, fake clock), and the views (a line per change, the versioned JSON document, the
table). The end-to-end runs against the emulator are in tests/e2e/test_rollout_status.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, cast

import pytest
from rich.console import Console

from controller.engine.audit import AuditLog
from controller.engine.rollout_driver import RolloutDriver
from controller.model import Metric
from controller.observed import ObservedEndpoint, Sample
from controller.ports import MetricsPort, VertexPort
from controller.rollout.events import RolloutStatus
from controller.rollout.machine import current_window
from controller.rollout.reason import Kind, Reason
from controller.rollout.state import Phase, RolloutState, to_labels
from controller.rollout.verdicts import Verdict
from controller.views.rollout import change_keys, changed, status_document, status_json, status_line, status_table
from tests.builders import MANAGED, endpoint, live_endpoint
from tests.rollout_builders import CANARY_ID, STABLE_ID, STARTED, live, measurement, state, steps_of

ANALYSED = {
    "steps": [{"weight": 20, "pause": "10m"}, {"weight": 50}],
    "analysis": {"interval": "1m", "initialDelay": "2m", "metrics": [{"name": "error-rate", "max": 0.05}]},
}
T0 = STARTED


# --- the window status measures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "now", "window"),
    [
        pytest.param({}, 30, (0, 30), id="from the step's start while it is younger than one interval"),
        pytest.param({}, 90, (30, 90), id="one interval ending now, though the initial delay has not passed"),
        pytest.param({"last_analysis": T0 + 590}, 600, (540, 600), id="whether or not a run is due"),
        pytest.param({"phase": "paused"}, 600, (540, 600), id="a paused rollout too: it shows why it waits"),
        pytest.param({}, 0, None, id="nothing at the very start of the step"),
        pytest.param({"step_started": T0 + 10}, 5, None, id="nothing for a step that began after now"),
        pytest.param({"phase": "healthy"}, 600, None, id="nothing once promoted"),
        pytest.param({"phase": "degraded", "canary_id": ""}, 600, None, id="nothing once rolled back"),
        pytest.param({"step": 2}, 600, None, id="nothing past the last step"),
    ],
)
def test_status_measures_the_current_steps_last_interval_ending_now(
    fields: dict[str, Any], now: int, window: tuple[int, int] | None
) -> None:
    got = current_window(state(**fields), steps_of(ANALYSED), T0 + now)
    assert got == (None if window is None else (T0 + window[0], T0 + window[1]))


def test_a_step_without_analysis_has_nothing_to_measure() -> None:
    assert current_window(state(), steps_of({"steps": [{"weight": 20, "pause": "1m"}]}), T0 + 30) is None


# --- the driver: read-only, and a watch that stops ------------------------------------------------------


class _Endpoints:
    """A VertexPort that serves one endpoint and refuses every write."""

    def __init__(self, endpoint: ObservedEndpoint) -> None:
        self.endpoint = endpoint

    def get_endpoint(self, endpoint_id: str) -> ObservedEndpoint | None:
        return self.endpoint if endpoint_id == self.endpoint.endpoint_id else None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"status called VertexPort.{name}: it must only read")


class _Metrics:
    """A MetricsPort that records the windows asked for."""

    def __init__(self, sample: Sample) -> None:
        self.sample_given = sample
        self.asked: list[tuple[str, float, float]] = []

    def sample(
        self,
        *,
        region: str,
        endpoint_id: str,
        deployed_model_id: str,
        start: float,
        end: float,
        metrics: Sequence[Metric],
    ) -> Sample:
        self.asked.append((deployed_model_id, start, end))
        return self.sample_given


def _driver(recorded: RolloutState, sample: Sample, now: float) -> tuple[RolloutDriver, _Metrics]:
    observed = live(split={STABLE_ID: 80, CANARY_ID: 20})
    labelled = live_endpoint(
        models=observed.deployed_models, split=dict(observed.traffic_split), labels={**MANAGED, **to_labels(recorded)}
    )
    metrics = _Metrics(sample)
    driver = RolloutDriver(
        ports={"us-central1": cast(VertexPort, _Endpoints(labelled))},
        metrics=cast(MetricsPort, metrics),
        clock=lambda: now,
        audit=AuditLog(None),
    )
    return driver, metrics


def test_status_measures_the_canary_itself_over_the_current_window_and_writes_nothing() -> None:
    driver, metrics = _driver(state(), Sample(requests=87, errors=1), T0 + 300)
    status = driver.status(endpoint(rollout={"strategy": "canary", **ANALYSED}))
    assert status is not None
    assert metrics.asked == [(CANARY_ID, T0 + 240, T0 + 300)]
    assert status.window == (T0 + 240, T0 + 300)
    [taken] = status.measurements
    assert (taken.metric, taken.verdict, taken.requests) == ("error-rate", Verdict.SUCCESSFUL, 87)
    assert taken.value == pytest.approx(1 / 87)
    assert (status.weight, status.share, status.next_at) == (20, 100, T0 + 120)


def test_status_at_an_indefinite_pause_says_it_waits_for_a_person() -> None:
    spec = {**ANALYSED, "steps": [{"weight": 20, "pause": "indefinite"}, {"weight": 50}]}
    driver, _ = _driver(state(successes=1), Sample(requests=87), T0 + 300)
    status = driver.status(endpoint(rollout={"strategy": "canary", **spec}))
    assert status is not None and status.waiting_for_human and not status.finished


def _status(phase: str = "progressing", weight: int = 20, **fields: Any) -> RolloutStatus:
    return RolloutStatus("chat", state(phase=phase, **fields), 2, weight, 100)


def test_watch_polls_until_every_rollout_has_finished_or_waits_for_a_person() -> None:
    driver, _ = _driver(state(), Sample(), T0)
    snapshots = iter(
        [
            [_status(), _status("paused")],
            [_status(weight=50), _status("paused")],
            [_status("healthy", step=2), _status("paused")],
            [_status("healthy", step=2), _status("healthy")],
        ]
    )
    driver.statuses = lambda endpoints: next(snapshots)  # type: ignore[method-assign]
    slept: list[float] = []
    seen = list(driver.watch([], every_s=0.5, sleep=slept.append))
    assert [[s.state.phase for s in snapshot] for snapshot in seen] == [
        [Phase.PROGRESSING, Phase.PAUSED],
        [Phase.PROGRESSING, Phase.PAUSED],
        [Phase.HEALTHY, Phase.PAUSED],
    ]
    assert slept == [0.5, 0.5]


# --- views -----------------------------------------------------------------------------------------------


def _measured(value: float, requests: int, verdict: str = "successful") -> RolloutStatus:
    return RolloutStatus(
        "chat",
        state(),
        2,
        20,
        100,
        (measurement(verdict, value=value, requests=requests),),
        next_at=T0 + 120,
        window=(T0 + 60, T0 + 120),
    )


def test_a_change_is_where_the_rollout_stands_and_its_verdicts_not_each_new_value() -> None:
    before = change_keys([_measured(0.01, 80)])
    assert changed(before, [_measured(0.02, 95)]) == [], "new values and requests in every window are no change"
    assert changed(before, [_measured(0.09, 95, "failed")]), "a verdict that turns is"
    stepped = RolloutStatus("chat", state(step=1), 2, 50, 100, _measured(0.01, 80).measurements)
    assert changed(before, [stepped]) == [stepped]
    assert changed({}, [_measured(0.01, 80)]), "the first sight of a rollout is"


def _lines(*renderables: Any) -> str:
    console = Console(width=250, record=True, color_system=None)
    for renderable in renderables:
        console.print(renderable, soft_wrap=True)
    return console.export_text()


def test_a_watch_line_names_the_step_the_weight_each_verdict_and_the_requests() -> None:
    shown = _lines(status_line(_measured(0.012, 87), at=T0 + 121))
    assert shown.startswith("13:48:41 chat/primary progressing step 1/2 weight 20% of 100% | ")
    assert "error-rate 0.012 vs max 0.05 [ok] | 87 requests | next analysis 13:48:40" in shown
    reason = Reason(Kind.ANALYSIS_FAILED, metric="error-rate", value=0.08, requests=87)
    rolled_back = RolloutStatus("chat", state(phase="degraded", reason=reason, canary_id=""), 2, 0, 100)
    assert (
        _lines(status_line(rolled_back, at=T0))
        .strip()
        .endswith("chat/primary degraded step 1/2 | error-rate 0.08 failed over 87 requests")
    )


def test_the_json_document_is_versioned_and_says_everything_the_table_does() -> None:
    reason = Reason(Kind.TOO_FEW_REQUESTS, requests=3, min_requests=50, inconclusive=3, inconclusive_limit=2)
    paused = RolloutStatus("chat", state(phase="paused", reason=reason), 2, 20, 100)
    document = status_document([_measured(0.012, 87), paused], at=T0 + 121)
    assert document["format_version"] == "1.0" and document["at"] == "1970-01-12T13:48:41.000+00:00"
    progressing, held = document["rollouts"]
    assert progressing == {
        "kind": "Endpoint",
        "endpoint": "chat",
        "deployment": "primary",
        "revision": state().revision,
        "phase": "progressing",
        "step": 1,
        "steps": 2,
        "weight": 20,
        "share": 100,
        "finished": False,
        "waiting_for_human": False,
        "reason": None,
        "failed_revision": None,
        "measurements": [
            {
                "metric": "error-rate",
                "value": 0.012,
                "threshold": "max 0.05",
                "verdict": "successful",
                "requests": 87,
                "detail": "",
            }
        ],
        "window": {"start": "1970-01-12T13:47:40.000+00:00", "end": "1970-01-12T13:48:40.000+00:00"},
        "next_analysis_at": "1970-01-12T13:48:40.000+00:00",
    }
    assert held["waiting_for_human"] and held["reason"]["kind"] == "too-few-requests"
    assert (held["reason"]["requests"], held["reason"]["min_requests"]) == (3, 50)


def test_json_lines_are_one_line_each_and_never_hold_nan() -> None:
    text = status_json([_measured(math.inf, 87, "failed")], at=T0, one_line=True)
    assert "\n" not in text
    assert json.loads(text)["rollouts"][0]["measurements"][0]["value"] == "inf"


def test_the_table_shows_requests_and_next_analysis_only_when_some_rollout_has_them() -> None:
    shown = _lines(status_table([_measured(0.012, 87)]))
    assert "error-rate 0.012 vs max 0.05 [ok]" in shown and "87 requests" in shown and "13:48:40" in shown
    finished = _lines(status_table([_status("healthy", step=2)]))
    assert "last measurements" not in finished and "next" not in finished and "reason" not in finished


def test_no_rollout_is_a_document_with_none() -> None:
    assert status_document([], at=T0)["rollouts"] == []
