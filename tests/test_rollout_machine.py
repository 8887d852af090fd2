"""The rollout state machine: a table of single passes (tests/cases/rollout/machine.yaml), the analysis
schedule, the human commands, and whole rollouts driven pass by pass on a fake clock: healthy canaries
promote through every step, failing ones roll back, and no data never moves traffic forward. Every
record the machine returns reads back from its labels exactly, and nothing in the rollout core or its
driver reads the wall clock."""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.model import Analysis
from controller.rollout.machine import (
    Move,
    Transition,
    abort,
    analysis_window,
    next_analysis_at,
    next_transition,
    pause,
    promote,
    resume,
)
from controller.rollout.reason import Kind, Reason
from controller.rollout.state import Phase, RolloutState, from_labels, to_labels
from controller.rollout.strategy import CompiledStep
from controller.rollout.verdicts import Bound, Measurement, Sample, Verdict, judge
from tests.rollout_builders import (
    CANARY_ID,
    REVISION,
    STABLE_ID,
    STARTED,
    live,
    load_cases,
    measurement,
    state,
    steps_of,
    table,
)

T0 = STARTED
ROLLOUTS: dict[str, dict[str, Any]] = table("machine")["rollouts"]
TIMES = ("step_started", "last_analysis")
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None)
HEALTHY = live()


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return value.replace("$canary", CANARY_ID).replace("$stable", STABLE_ID).replace("$revision", REVISION)


def _state_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (T0 + v if k in TIMES else _text(v)) for k, v in fields.items()}


def _measurements(written: list[Any] | None) -> tuple[Measurement, ...] | None:
    if written is None:
        return None
    return tuple(measurement(m) if isinstance(m, str) else measurement(**m) for m in written)


@pytest.mark.parametrize("case", load_cases("machine"))
def test_one_pass_decides_as_in_the_table(case: dict[str, Any]) -> None:
    before = state(**_state_fields(case.get("state", {})))
    taken = _measurements(case.get("measurements"))
    got = next_transition(
        before, steps_of(ROLLOUTS[case["rollout"]]), live(**case.get("live", {})), taken, T0 + case["now"]
    )
    want = case["expect"]
    assert (got.move.value, got.weight) == (want["move"], want["weight"]), got.reason
    if "kind" in want:
        assert got.reason is not None and got.reason.kind is Kind(want["kind"])
    expected_state = want.get("state", {})
    if expected_state.get("unchanged"):
        assert got.state == before
    for name, value in _state_fields(expected_state).items():
        if name != "unchanged":
            assert getattr(got.state, name) == value, name
    described = got.reason.describe() if got.reason is not None else ""
    for text in want.get("reason", []):
        assert _text(text) in described
    for text in want.get("reason_excludes", []):
        assert text not in described
    if got.state.phase in (Phase.DEGRADED, Phase.PAUSED) and got.move is not Move.HOLD:
        assert got.state.reason == got.reason, "the record keeps the reason of its pause or rollback"
    assert from_labels(to_labels(got.state)) == got.state, "the record reads back exactly"
    if "measurements" in want:
        assert len(got.measurements) == want["measurements"]
    assert got.state.deployment == before.deployment and got.state.revision == before.revision


# --- the analysis schedule -------------------------------------------------------------------------------


def _scheduled(interval: str = "1m", initial_delay: str = "0s", pause: str | None = "10m") -> tuple[CompiledStep, ...]:
    analysis = {"interval": interval, "initialDelay": initial_delay, "metrics": [{"name": "error-rate", "max": 0.05}]}
    first = {"weight": 10} if pause is None else {"weight": 10, "pause": pause}
    return steps_of({"steps": [first, {"weight": 50}], "analysis": analysis})


@pytest.mark.parametrize(
    ("fields", "delay", "now", "window"),
    [
        pytest.param({}, "2m", 119, None, id="nothing before the initial delay"),
        pytest.param({}, "2m", 120, (60, 120), id="the first window opens at the initial delay"),
        pytest.param({}, "0s", 0, (0, 0), id="without a delay the first window opens at the step start"),
        pytest.param({}, "0s", 30, (0, 30), id="a first window never reaches back before the step start"),
        pytest.param({"last_analysis": 120}, "2m", 179, None, id="nothing before the interval has passed"),
        pytest.param({"last_analysis": 120}, "2m", 180, (120, 180), id="the next window one interval later"),
        pytest.param({"last_analysis": 120}, "2m", 10_000, (9_940, 10_000), id="a late window covers one interval"),
        pytest.param(
            {"step_started": 300, "last_analysis": 290}, "0s", 320, None, id="the previous step's run spaces runs"
        ),
        pytest.param(
            {"step_started": 300, "last_analysis": 290}, "0s", 350, (300, 350), id="never before the step started"
        ),
        pytest.param(
            {"step_started": 300, "last_analysis": 299}, "2m", 400, None, id="the initial delay counts from the step"
        ),
        pytest.param({"phase": "paused"}, "0s", 600, None, id="no analysis while paused"),
        pytest.param({"phase": "healthy"}, "0s", 600, None, id="no analysis once promoted"),
        pytest.param({"step": 2}, "0s", 600, None, id="no analysis past the last step"),
    ],
)
def test_analysis_is_due_as_the_schedule_says(
    fields: dict[str, Any], delay: str, now: int, window: tuple[int, int] | None
) -> None:
    got = analysis_window(state(**_state_fields(fields)), _scheduled(initial_delay=delay), T0 + now)
    assert got == (None if window is None else (T0 + window[0], T0 + window[1]))


def test_a_step_without_analysis_is_never_measured() -> None:
    steps = steps_of({"steps": [{"weight": 10, "pause": "1m"}]})
    assert analysis_window(state(), steps, T0 + 10_000) is None
    assert next_analysis_at(state(), steps) == T0 + 60


def test_the_next_wakeup_is_the_earlier_of_the_next_run_and_the_end_of_the_pause() -> None:
    steps = _scheduled(interval="1m", initial_delay="2m")
    assert next_analysis_at(state(), steps) == T0 + 120
    assert next_analysis_at(state(last_analysis=T0 + 500), steps) == T0 + 560
    assert next_analysis_at(state(last_analysis=T0 + 590), steps) == T0 + 600, "the 10m pause ends first"
    assert next_analysis_at(state(phase="paused"), steps) is None
    indefinite = steps_of({"steps": [{"weight": 10, "pause": "indefinite"}]})
    assert next_analysis_at(state(), indefinite) is None


@PROPERTY
@given(
    interval=st.integers(1, 600),
    delay=st.integers(0, 600),
    started=st.integers(0, 10_000),
    last=st.one_of(st.just(0), st.integers(1, 20_000)),
    now=st.integers(0, 30_000),
)
def test_an_analysis_window_is_at_most_one_interval_ending_now_and_never_before_the_step(
    interval: int, delay: int, started: int, last: int, now: int
) -> None:
    steps = _scheduled(interval=f"{interval}s", initial_delay=f"{delay}s", pause=None)
    current = state(step_started=T0 + started, last_analysis=T0 + last if last else 0)
    window = analysis_window(current, steps, T0 + now)
    due = next_analysis_at(current, steps)
    assert due is not None
    assert (window is not None) == (T0 + now >= due), "due exactly when the wakeup says"
    if window is not None:
        start, end = window
        assert end == T0 + now
        assert current.step_started <= start <= end
        assert end - start <= interval
        assert now >= started + delay


# --- human commands --------------------------------------------------------------------------------------

THREE = steps_of({"steps": [{"weight": 10, "pause": "indefinite"}, {"weight": 30, "pause": "1m"}, {"weight": 60}]})


def test_promote_moves_past_an_indefinite_pause_to_the_next_step() -> None:
    got = promote(state(successes=1, failures=1), THREE, T0 + 500, full=False)
    assert (got.move, got.weight) == (Move.STEP, 30)
    assert got.state == state(step=1, step_started=T0 + 500)


def test_promote_on_the_last_step_promotes_fully() -> None:
    got = promote(state(step=2), THREE, T0 + 500, full=False)
    assert (got.move, got.weight, got.state.phase, got.state.step) == (Move.PROMOTE, 100, Phase.HEALTHY, 3)


def test_promote_full_jumps_from_any_step_to_promoted() -> None:
    for step in range(3):
        got = promote(state(step=step), THREE, T0 + 500, full=True)
        assert (got.move, got.weight) == (Move.PROMOTE, 100)
        assert got.state.phase is Phase.HEALTHY and got.state.step == 3 and got.state.reason is None
        assert (got.state.canary_id, got.state.stable_id) == ("", CANARY_ID), "the canary is the stable now"
        assert got.reason == Reason(Kind.PROMOTED)


def test_promote_continues_a_paused_rollout() -> None:
    paused = state(phase="paused", reason=Reason(Kind.NO_DATA, metric="error-rate", inconclusive=3))
    got = promote(paused, THREE, T0 + 500, full=False)
    assert (got.move, got.state.phase, got.state.step, got.state.reason) == (Move.STEP, Phase.PROGRESSING, 1, None)
    assert got.reason == Reason(Kind.STEP_PROMOTED)


def test_an_indefinite_pause_waits_for_promote_and_then_the_rollout_goes_on() -> None:
    waiting = next_transition(state(), THREE, HEALTHY, None, T0 + 10**8)
    assert waiting.move is Move.HOLD
    promoted = promote(waiting.state, THREE, T0 + 10**8, full=False)
    after = next_transition(promoted.state, THREE, HEALTHY, None, T0 + 10**8 + 60)
    assert (after.move, after.weight, after.state.step) == (Move.STEP, 60, 2)


@pytest.mark.parametrize("phase", ["healthy", "degraded"])
def test_a_finished_rollout_ignores_every_command(phase: str) -> None:
    done = state(phase=phase, step=3)
    for got in (promote(done, THREE, T0, full=True), abort(done), pause(done), resume(done, T0)):
        assert got == Transition(Move.HOLD, done)


@pytest.mark.parametrize("phase", ["progressing", "paused"])
def test_abort_rolls_back_and_marks_the_revision_failed(phase: str) -> None:
    got = abort(state(phase=phase, step=1))
    assert (got.move, got.weight) == (Move.ROLLBACK, 0)
    assert got.state.phase is Phase.DEGRADED and got.state.step == 1
    assert got.state.failed_revision == REVISION
    assert (got.state.canary_id, got.state.stable_id) == ("", STABLE_ID), "the canary is undeployed next"
    assert got.state.reason == got.reason == Reason(Kind.ABORTED)


def test_pause_stops_a_progressing_rollout_and_resume_restarts_its_step() -> None:
    busy = state(step=1, step_started=T0 + 60, successes=1, failures=1, inconclusive=2, last_analysis=T0 + 120)
    paused = pause(busy)
    assert (paused.move, paused.weight, paused.state.phase) == (Move.PAUSE, None, Phase.PAUSED)
    assert paused.state.reason == paused.reason == Reason(Kind.PAUSED)
    assert pause(paused.state).move is Move.HOLD, "pausing twice changes nothing"
    held = next_transition(paused.state, THREE, HEALTHY, (measurement("successful"),), T0 + 10**6)
    assert held.move is Move.HOLD and held.state == paused.state
    resumed = resume(paused.state, T0 + 900)
    assert (resumed.move, resumed.weight) == (Move.RESUME, None), "resume keeps the traffic where it is"
    assert resumed.reason == Reason(Kind.RESUMED)
    assert resumed.state == busy.evolve(step_started=T0 + 900, successes=0, failures=0, inconclusive=0, last_analysis=0)


def test_resume_of_a_rollout_that_is_not_paused_changes_nothing() -> None:
    assert resume(state(), T0 + 60) == Transition(Move.HOLD, state())


# --- whole rollouts on a fake clock ----------------------------------------------------------------------


@dataclass
class Run:
    """A rollout driven the way the driver does: measure when a window is due, decide, persist."""

    steps: Sequence[CompiledStep]
    verdicts: Callable[[int], Sequence[str | Measurement]]  # run number -> its verdicts or measurements
    current: RolloutState = field(default_factory=state)
    now: int = T0
    measured: int = 0
    log: list[tuple[int, Transition]] = field(default_factory=list)

    def tick(self, seconds: int) -> Transition:
        self.now += seconds
        before = self.current
        taken = None
        if analysis_window(before, self.steps, self.now) is not None:
            taken = tuple(measurement(v) if isinstance(v, str) else v for v in self.verdicts(self.measured))
            self.measured += 1
        got = next_transition(before, self.steps, HEALTHY, taken, self.now)
        assert got.state.step <= before.step + 1, "at most one step per pass"
        assert from_labels(to_labels(got.state)) == got.state, "every record reads back exactly"
        self.current = got.state
        self.log.append((self.now, got))
        return got

    def until_done(self, seconds: int, passes: int) -> list[Move]:
        for _ in range(passes):
            if self.tick(seconds).move in (Move.PROMOTE, Move.ROLLBACK) or self.current.phase is Phase.PAUSED:
                break
        return [t.move for _, t in self.log if t.move is not Move.HOLD]


FOUR_STEPS: dict[str, Any] = {
    "steps": [
        {"weight": 5, "pause": "2m"},
        {"weight": 25, "pause": "3m"},
        {"weight": 50},
        {"weight": 80, "pause": "1m"},
    ],
    "analysis": {
        "interval": "1m",
        "initialDelay": "30s",
        "failureLimit": 1,
        "inconclusiveLimit": 2,
        "successCount": 2,
        "metrics": [{"name": "error-rate", "max": 0.05}],
    },
}


def test_a_healthy_canary_promotes_through_every_step_in_order_holding_each_long_enough() -> None:
    steps = steps_of(FOUR_STEPS)
    run = Run(steps, lambda _: ["successful"])
    moves = run.until_done(seconds=10, passes=500)
    assert moves == [Move.STEP, Move.STEP, Move.STEP, Move.PROMOTE]
    changes = [(now, t) for now, t in run.log if t.move is not Move.HOLD]
    assert [t.weight for _, t in changes] == [25, 50, 80, 100]
    entered = [T0] + [now for now, _ in changes]
    for index, step in enumerate(steps):
        held = entered[index + 1] - entered[index]
        assert held >= (step.pause_s or 0), f"step {index} held {held}s"
        assert held >= 30 + 60, f"step {index}: initial delay, then two runs one interval apart"
    assert run.current.phase is Phase.HEALTHY


def test_a_failing_canary_rolls_back_at_the_measurement_past_failure_limit() -> None:
    run = Run(steps_of(FOUR_STEPS), lambda n: ["successful"] if n < 3 else ["failed"])
    moves = run.until_done(seconds=10, passes=500)
    assert moves[-1] is Move.ROLLBACK and Move.PROMOTE not in moves
    _, last = run.log[-1]
    assert last.weight == 0 and last.measurements, "rolled back in the pass that measured the failure"
    assert run.measured == 3 + 2, "failureLimit 1: the second failure rolls back"
    assert run.current.failed_revision == REVISION
    assert run.current.reason == Reason(
        Kind.ANALYSIS_FAILED, metric="error-rate", value=0.01, bound=Bound.MAX, threshold=0.05, requests=200
    )


def test_alternating_failures_stay_under_the_consecutive_limit_and_three_in_a_row_roll_back() -> None:
    spec = {
        "steps": [{"weight": 10, "pause": "1h"}, {"weight": 50}],
        "analysis": {
            "failureLimit": 50,
            "consecutiveFailureLimit": 3,
            "metrics": [{"name": "error-rate", "max": 0.05}],
        },
    }
    # runs 0..9 alternate failed, successful; from run 10 on every run fails.
    run = Run(steps_of(spec), lambda n: ["failed"] if n >= 10 or n % 2 == 0 else ["successful"])
    moves = run.until_done(seconds=10, passes=2000)
    assert moves == [Move.ROLLBACK]
    assert run.measured == 13, "runs 10, 11 and 12 are the three in a row"
    assert run.current.failures == 8 and run.current.consecutive_failures == 3


def test_a_dry_run_canary_that_always_fails_never_rolls_back_and_promotes() -> None:
    spec = {**FOUR_STEPS, "analysis": {**FOUR_STEPS["analysis"], "dryRun": True, "failureLimit": 0}}
    run = Run(steps_of(spec), lambda _: ["failed"])
    moves = run.until_done(seconds=10, passes=500)
    assert Move.ROLLBACK not in moves and moves[-1] is Move.PROMOTE


NO_DATA = st.lists(st.sampled_from(["inconclusive", "error"]), min_size=1, max_size=3)


@PROPERTY
@given(
    ticks=st.lists(st.integers(1, 400), min_size=50, max_size=150),
    runs=st.lists(NO_DATA, min_size=1, max_size=5),
    resume_after=st.integers(0, 5),
)
def test_no_data_never_moves_traffic_forward_however_long_and_however_often_a_human_resumes(
    ticks: list[int], runs: list[list[str]], resume_after: int
) -> None:
    run = Run(steps_of(FOUR_STEPS), lambda n: runs[n % len(runs)])
    paused_for = 0
    for seconds in ticks:
        got = run.tick(seconds)
        assert got.move in (Move.HOLD, Move.PAUSE), got
        assert run.current.step == 0 and run.current.successes == 0
        if run.current.phase is Phase.PAUSED:
            paused_for += 1
            if paused_for > resume_after:
                run.current = resume(run.current, run.now).state
                paused_for = 0
    assert run.measured > 0


def _judged(analysis: dict[str, Any], canary: Sample) -> Callable[[int], list[str | Measurement]]:
    """Each run judges the same canary sample with the analysis's real metrics."""
    checked = Analysis.model_validate(analysis)
    return lambda _: [
        judge(m, canary=canary, stable=Sample(1000, 1), min_requests=checked.min_requests) for m in checked.metrics
    ]


NO_TRAFFIC_METRICS = [
    {"name": "error-rate", "max": 0.05},
    {"name": "latency-p99", "maxMs": 1500},
    {"name": "error-rate", "maxIncrease": 0.5},
    {"name": "tps", "query": {"filter": 'metric.type="custom.googleapis.com/tps"'}, "min": 1},
]


@pytest.mark.parametrize(
    "metric",
    [pytest.param(m, id=f"{m['name']} {sorted(set(m) - {'name', 'query'})}") for m in NO_TRAFFIC_METRICS]
    + [
        pytest.param(
            {"name": "request-count", "max": 100_000},
            id="request-count max",
        )
    ],
)
@pytest.mark.parametrize(
    "canary",
    [Sample(0), Sample(3, 3, latency_ms={99: 9e3}, custom={"tps": 0.0}), Sample(49, 0, {99: 1.0}, {"tps": 9.0})],
    ids=["no requests", "a few bad requests", "49 good requests"],
)
def test_a_canary_below_min_requests_never_moves_forward_nor_back_whatever_its_metrics_say(
    metric: dict[str, Any], canary: Sample
) -> None:
    analysis = {**FOUR_STEPS["analysis"], "minRequests": 50, "metrics": [metric]}
    run = Run(steps_of({**FOUR_STEPS, "analysis": analysis}), _judged(analysis, canary))
    moves = run.until_done(seconds=20, passes=300)
    assert moves == [Move.PAUSE], "holds, then pauses for a human once inconclusiveLimit is passed"
    assert run.current.step == 0
    assert run.current.reason == Reason(
        Kind.TOO_FEW_REQUESTS, requests=canary.requests, min_requests=50, inconclusive=3, inconclusive_limit=2
    )


@PROPERTY
@given(
    step=st.integers(0, 4),
    counts=st.tuples(*[st.integers(0, 5)] * 4),
    last=st.integers(0, 10**6),
    now=st.integers(0, 10**9),
    verdicts=st.one_of(st.none(), st.lists(st.sampled_from(Verdict), max_size=3)),
    spec=st.sampled_from(sorted(ROLLOUTS)),
)
def test_a_single_pass_never_moves_more_than_one_step_and_its_move_matches_its_state(
    step: int,
    counts: tuple[int, int, int, int],
    last: int,
    now: int,
    verdicts: list[Verdict] | None,
    spec: str,
) -> None:
    steps = steps_of(ROLLOUTS[spec])
    failures, consecutive, inconclusive, successes = counts
    before = state(
        step=min(step, len(steps)),
        failures=failures,
        consecutive_failures=consecutive,
        inconclusive=inconclusive,
        successes=successes,
        last_analysis=T0 + last if last else 0,
    )
    taken = None if verdicts is None else tuple(measurement(v) for v in verdicts)
    got = next_transition(before, steps, HEALTHY, taken, T0 + now)
    match got.move:
        case Move.HOLD:
            assert got.weight is None and got.state.step == before.step and got.state.phase is Phase.PROGRESSING
            assert got.reason is None
        case Move.STEP:
            assert got.state.step == before.step + 1 and got.weight == steps[got.state.step].weight
            assert got.state.step_started == T0 + now and got.state.successes == got.state.failures == 0
        case Move.PROMOTE:
            assert got.weight == 100 and got.state.phase is Phase.HEALTHY and got.state.step == len(steps)
            assert before.step >= len(steps) - 1, "promotes only from the last step"
        case Move.ROLLBACK:
            assert got.weight == 0 and got.state.phase is Phase.DEGRADED and got.state.failed_revision == REVISION
            assert taken is not None and Verdict.FAILED in verdicts  # type: ignore[operator]
            assert got.reason is not None and got.reason.kind is Kind.ANALYSIS_FAILED and got.state.canary_id == ""
        case Move.PAUSE:
            assert got.weight is None and got.state.phase is Phase.PAUSED
            assert taken is not None and Verdict.FAILED not in verdicts  # type: ignore[operator]
            assert got.reason is not None and got.reason.kind.inconclusive
        case Move.RESUME:
            raise AssertionError("only a human resumes")
    assert from_labels(to_labels(got.state)) == got.state


# --- one clock ---------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
CLOCKED = [*sorted((ROOT / "controller" / "rollout").glob("*.py")), ROOT / "controller/engine/rollout_driver.py"]
WALL_CLOCK = {"time", "monotonic", "perf_counter", "now", "utcnow", "today"}


@pytest.mark.parametrize("path", CLOCKED, ids=lambda p: p.name)
def test_the_rollout_core_and_its_driver_never_read_the_wall_clock(path: Path) -> None:
    """Time is passed in (`now`) or comes from the driver's injected clock, so a fake clock drives it all."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"time", "datetime"}, "import the clock, never read it"
    calls = [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WALL_CLOCK
    ]
    assert not calls, calls
