"""Rollout state and its record in endpoint labels: every state, its typed reason included, survives the
round trip exactly, every label obeys Vertex AI's rules, and unreadable records read as "no rollout"
(cases in tests/cases/rollout/corrupt_labels.yaml)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.rollout.reason import KEYS as REASON_KEYS
from controller.rollout.reason import Kind, Reason
from controller.rollout.state import PREFIX, Phase, RolloutState, from_labels, to_labels, without_rollout
from controller.rollout.verdicts import Bound
from tests.rollout_builders import CANARY_ID, STABLE_ID, load_cases, reasons, state

PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None)
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
FIELDS = 13 + len(REASON_KEYS)  # every field of RolloutState has one label, its reason a few

LOWER = "abcdefghijklmnopqrstuvwxyz"
names = st.builds(lambda first, rest: first + rest, st.sampled_from(LOWER), st.text(LOWER + "0123456789-", max_size=62))
revisions = st.one_of(st.just(""), st.integers(0, 16**12 - 1).map(lambda n: f"{n:012x}"))
model_ids = st.one_of(st.just(""), st.integers(1, 10**19 - 1).map(str))
counts = st.integers(0, 10_000)
times = st.integers(0, 2**40)


@st.composite
def states(draw: st.DrawFn) -> RolloutState:
    """Any rollout state genaiops can write: identifiers as Vertex AI and the planner make them."""
    return RolloutState(
        deployment=draw(names),
        revision=draw(revisions),
        phase=draw(st.sampled_from(Phase)),
        step=draw(st.integers(0, 20)),
        step_started=draw(times),
        canary_id=draw(model_ids),
        stable_id=draw(model_ids),
        failures=draw(counts),
        consecutive_failures=draw(counts),
        inconclusive=draw(counts),
        successes=draw(counts),
        last_analysis=draw(times),
        reason=draw(st.one_of(st.none(), reasons())),
        failed_revision=draw(revisions),
    )


@PROPERTY
@given(states(), st.dictionaries(names, st.text(LOWER + "0123456789_-", max_size=63), max_size=4))
def test_every_state_survives_the_label_round_trip_exactly_among_other_labels(
    original: RolloutState, others: dict[str, str]
) -> None:
    others = without_rollout(others)
    labels = {**others, **to_labels(original)}
    assert from_labels(labels) == original
    assert without_rollout(labels) == others


@PROPERTY
@given(states())
def test_every_label_key_and_value_obeys_the_vertex_label_rules(original: RolloutState) -> None:
    labels = to_labels(original)
    assert 3 <= len(labels) <= FIELDS  # deployment, phase and step at least
    for key, value in labels.items():
        assert key.startswith(PREFIX)
        assert LABEL_KEY.fullmatch(key), key
        assert LABEL_VALUE.fullmatch(value), f"{key}={value!r}"
        assert value, f"{key} is written empty"


def test_a_fresh_rollout_writes_only_the_fields_it_has() -> None:
    fresh = RolloutState(deployment="primary", revision="5f1c0ffee123", phase=Phase.PROGRESSING)
    assert to_labels(fresh) == {
        "genaiops-ro-deployment": "primary",
        "genaiops-ro-revision": "5f1c0ffee123",
        "genaiops-ro-phase": "progressing",
        "genaiops-ro-step": "0",
    }


def test_a_rolled_back_rollout_records_the_failed_revision_and_its_reason_field_by_field() -> None:
    why = Reason(Kind.ANALYSIS_FAILED, metric="error-rate", value=0.231, bound=Bound.MAX, threshold=0.05, requests=412)
    degraded = state(phase="degraded", step=1, failures=2, reason=why, failed_revision="5f1c0ffee123")
    labels = to_labels(degraded)
    assert labels["genaiops-ro-phase"] == "degraded"
    assert labels["genaiops-ro-failed"] == "5f1c0ffee123"
    assert {k: v for k, v in labels.items() if k.startswith("genaiops-ro-reason")} == {
        "genaiops-ro-reason": "analysis-failed",
        "genaiops-ro-reason-metric": "error-rate",
        "genaiops-ro-reason-value": "0_231",
        "genaiops-ro-reason-threshold": "max-0_05",
        "genaiops-ro-reason-requests": "412",
    }
    assert labels["genaiops-ro-canary"] == CANARY_ID and labels["genaiops-ro-stable"] == STABLE_ID
    read = from_labels(labels)
    assert read is not None and read.reason == why
    assert read.reason.describe() == "error-rate 0.231 > max 0.05 over 412 requests"


def test_without_rollout_keeps_every_label_that_is_not_the_record() -> None:
    labels = {"managed-by": "genaiops", "genaiops-retain": "true", "team": "x", **to_labels(state(step=2))}
    assert without_rollout(labels) == {"managed-by": "genaiops", "genaiops-retain": "true", "team": "x"}


@pytest.mark.parametrize("case", load_cases("corrupt_labels"))
def test_an_unreadable_record_reads_as_no_rollout(case: dict[str, Any]) -> None:
    labels = {**case.get("other", {}), **{PREFIX + k: str(v) for k, v in case["record"].items()}}
    assert from_labels(labels) is None


def test_entering_a_step_starts_its_counters_over_but_remembers_the_last_analysis() -> None:
    busy = state(step=1, failures=1, consecutive_failures=1, inconclusive=2, successes=3, last_analysis=1_000_500)
    entered = busy.at_step(2, 1_000_600)
    assert entered == busy.evolve(
        step=2, step_started=1_000_600, failures=0, consecutive_failures=0, inconclusive=0, successes=0
    )
    assert busy.step == 1, "states are immutable"


def test_only_healthy_and_degraded_are_terminal() -> None:
    assert {p for p in Phase if p.terminal} == {Phase.HEALTHY, Phase.DEGRADED}
