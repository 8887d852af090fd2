"""The evaluation gate: each metric's mean over the examples against its threshold, the verdict as a report
and as labels, and no verdict of "passed" on no data or on a scorer that misbehaves."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from controller.evaluation.gate import GATE_HASH_LABEL, GATE_LABEL, score
from controller.evaluation.scorers import ScorerError
from controller.model.tuning import GateMetric

SAMPLES = "tests.evaluation.sample_scorers"
PAIRS = [("Paris", "Paris"), ("Rome", "rome"), ('{"a": 1}', '{"a": 1}'), ("four words are here", "four words")]


def metric(name: str, minimum: float, scorer: str | None = None) -> GateMetric:
    return GateMetric(name=name, min=minimum, scorer=scorer)


def test_the_gate_passes_when_every_metric_mean_reaches_its_threshold_exactly_at_it_included() -> None:
    result = score([metric("exact-match", 0.5), metric("json-valid", 0.25)], PAIRS)

    assert result.passed and result.examples == 4
    exact, valid = result.metrics
    assert (exact.mean, exact.minimum, exact.count, exact.passed) == (0.5, 0.5, 4, True)
    assert (valid.name, valid.scorer, valid.mean, valid.passed) == ("json-valid", "json-valid", 0.25, True)


def test_the_gate_fails_when_one_metric_is_below_its_threshold_and_says_which() -> None:
    result = score([metric("exact-match", 0.5), metric("rouge-l", 0.95)], PAIRS)

    assert not result.passed
    assert [(m.name, m.passed) for m in result.metrics] == [("exact-match", True), ("rouge-l", False)]
    assert result.metrics[1].mean == pytest.approx((1 + 1 + 1 + 2 / 3) / 4)


def test_the_gate_fails_on_no_examples_and_reports_no_mean() -> None:
    result = score([metric("exact-match", 0.0)], [])

    assert not result.passed and result.examples == 0
    assert (result.metrics[0].mean, result.metrics[0].passed) == (None, False)


def test_the_gate_reads_only_the_first_max_examples() -> None:
    def pairs() -> Iterator[tuple[str, str]]:
        yield from PAIRS[:2]
        raise AssertionError("read past max_examples")

    result = score([metric("exact-match", 0.5)], pairs(), max_examples=2)
    assert result.examples == 2 and result.metrics[0].mean == 0.5


def test_a_custom_scorer_is_averaged_and_reported_under_its_name_and_function() -> None:
    result = score(
        [metric("length", 0.5, f"{SAMPLES}:length_ratio")], [("abcd", "ab"), ("ab", "ab")], allowed=[SAMPLES]
    )

    (length,) = result.metrics
    assert (length.name, length.scorer, length.mean, length.passed) == ("length", f"{SAMPLES}:length_ratio", 0.75, True)


def test_a_custom_scorer_returning_2_fails_the_scoring_with_an_error_naming_it() -> None:
    with pytest.raises(ScorerError, match=rf"scorer '{SAMPLES}:too_high' returned 2.0 \(float\)"):
        score([metric("exact-match", 0.5), metric("pct", 0.5, f"{SAMPLES}:too_high")], PAIRS, allowed=[SAMPLES])


def test_a_refused_scorer_fails_before_the_first_example_is_read() -> None:
    def pairs() -> Iterator[tuple[str, str]]:
        raise AssertionError("examples were read before the scorers were checked")
        yield ("", "")  # pragma: no cover - makes this a generator

    with pytest.raises(ScorerError, match="no custom scorers are allowed"):
        score([metric("custom", 0.5, f"{SAMPLES}:length_ratio")], pairs(), allowed=[])


def test_a_gate_without_metrics_is_a_mistake_not_a_pass() -> None:
    with pytest.raises(ValueError, match="at least one metric"):
        score([], PAIRS)


def test_the_report_is_stable_json_with_every_metric_and_rounded_means() -> None:
    result = score([metric("rouge-l", 0.5), metric("exact-match", 0.9)], PAIRS)
    report = json.loads(result.to_json())

    assert report == {
        "version": 1,
        "passed": False,
        "examples": 4,
        "metrics": [
            {"name": "rouge-l", "scorer": "rouge-l", "min": 0.5, "mean": 0.916667, "count": 4, "passed": True},
            {"name": "exact-match", "scorer": "exact-match", "min": 0.9, "mean": 0.5, "count": 4, "passed": False},
        ],
    }
    assert result.to_json() == score([metric("rouge-l", 0.5), metric("exact-match", 0.9)], PAIRS).to_json()


@pytest.mark.parametrize(("threshold", "verdict"), [(0.5, "passed"), (0.75, "failed")])
def test_the_labels_record_the_verdict_and_the_report_hash_in_label_safe_values(threshold: float, verdict: str) -> None:
    result = score([metric("exact-match", threshold)], PAIRS)
    labels = result.labels()

    assert labels == {GATE_LABEL: verdict, GATE_HASH_LABEL: result.digest[:16]}
    for key, value in labels.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) and re.fullmatch(r"[a-z0-9_-]{0,63}", value)


def test_a_different_score_gives_a_different_report_hash() -> None:
    first = score([metric("exact-match", 0.5)], PAIRS)
    second = score([metric("exact-match", 0.5)], [*PAIRS, ("x", "x")])  # 2/4 and 3/5: both pass

    assert first.labels()[GATE_LABEL] == second.labels()[GATE_LABEL] == "passed"
    assert first.labels()[GATE_HASH_LABEL] != second.labels()[GATE_HASH_LABEL]
