"""The statistical judge (controller/rollout/judge.py) gives Kayenta's verdicts on Kayenta's own cases.

The cases in tests/cases/rollout/kayenta_mann_whitney.yaml are ported from spinnaker/kayenta at commit
a69573be9d8fededacf80817e4151a2c8df41276: every Mann-Whitney test of
kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ClassifierSuite.scala (classification, critical flag,
deviation, reason) and the interval/estimate tests of
kayenta-mannwhitney/src/test/scala/com/netflix/kayenta/mannwhitney/MannWhitneySuite.scala that tie out with
R (same tolerances as Kayenta). Property tests check the judge is symmetric where it should be.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from controller.rollout.judge import (
    Classification,
    Direction,
    EffectSizeMeasure,
    JudgeConfig,
    NanStrategy,
    judge,
    mann_whitney,
)
from tests.rollout_builders import table

KAYENTA = table("kayenta_mann_whitney")
FLIPPED = {
    Classification.HIGH: Classification.LOW,
    Classification.LOW: Classification.HIGH,
    Classification.PASS: Classification.PASS,
}


def config_of(case: dict[str, Any]) -> JudgeConfig:
    """A JudgeConfig from a ported case (MannWhitneyClassifier's arguments in our words)."""
    return JudgeConfig(
        name="metric",
        direction=Direction(case["direction"]),
        confidence_level=case["confidence_level"],
        tolerance=case["tolerance"],
        effect_size_measure=EffectSizeMeasure(case.get("effect_size_measure", "meanRatio")),
        allowed_increase=case.get("allowed_increase"),
        allowed_decrease=case.get("allowed_decrease"),
        critical_increase=case.get("critical_increase"),
        critical_decrease=case.get("critical_decrease"),
        nan_strategy=NanStrategy(case["nan_strategy"]),
        critical=case["critical"],
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in KAYENTA["cases"]])
def test_the_judge_classifies_each_kayenta_case_as_kayenta_does(case: dict[str, Any]) -> None:
    verdict = judge(case["control"], case["experiment"], config_of(case))
    expect = case["expect"]
    if "classification" in expect:
        assert verdict.classification == Classification(expect["classification"])
    if "critical" in expect:
        assert verdict.critical is expect["critical"]
    if expect.get("deviation") == "nan":
        assert math.isnan(verdict.deviation)
    elif "deviation" in expect:
        assert verdict.deviation == expect["deviation"]
    if expect.get("reason") == "non-empty":
        assert verdict.reason


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in KAYENTA["intervals"]])
def test_the_interval_and_estimate_tie_out_with_kayenta_and_r(case: dict[str, Any]) -> None:
    result = mann_whitney(case["experiment"], case["control"], case["confidence_level"])
    assert result.lower == pytest.approx(case["lower"], abs=1e-6)
    assert result.upper == pytest.approx(case["upper"], abs=1e-6)
    assert result.estimate == pytest.approx(case["estimate"], abs=1e-4)


def test_the_p_value_is_r_s_normal_approximation_with_continuity_correction() -> None:
    # R: wilcox.test(c(10, 20, 30, 40), c(1, 2, 3, 4), exact = FALSE)$p.value == 0.03038282
    result = mann_whitney([10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0])
    assert result.p_value == pytest.approx(0.03038282, abs=1e-7)


def test_a_verdict_shows_effect_size_interval_and_p_value() -> None:
    verdict = judge([1.0, 2.0, 3.0, 4.0, 5.0] * 4, [3.0, 4.0, 5.0, 6.0, 7.0] * 4, JudgeConfig(name="latency"))
    assert verdict.classification is Classification.HIGH
    assert verdict.reason == "latency was classified as High"
    assert verdict.estimate == pytest.approx(2.0, abs=1e-3)
    assert verdict.lower is not None and verdict.upper is not None and verdict.estimate is not None
    assert 0 < verdict.lower <= verdict.estimate <= verdict.upper
    assert verdict.p_value is not None and verdict.p_value < 0.01
    assert verdict.effect_size == pytest.approx(5.0 / 3.0)
    assert verdict.confidence_level == 0.98


def test_the_defaults_are_netflix_aca_judge_s() -> None:
    config = JudgeConfig()
    assert (config.confidence_level, config.tolerance) == (0.98, 0.25)
    assert config.effect_size_thresholds == (1.0, 1.0)
    assert config.critical_thresholds == (1.0, 1.0)
    assert config.nan_strategy is NanStrategy.REMOVE
    cles = JudgeConfig(effect_size_measure=EffectSizeMeasure.CLES)
    assert cles.effect_size_thresholds == (0.5, 0.5)


def test_missing_data_for_a_metric_that_must_have_it_is_a_nodata_failure() -> None:
    verdict = judge([1.0, 2.0], [math.nan], JudgeConfig(name="cost", must_have_data=True))
    assert verdict.classification is Classification.NODATA_FAIL_METRIC
    assert verdict.reason == "Missing data for cost"
    assert not verdict.critical


def test_nans_replaced_by_zero_are_judged_as_zeros() -> None:
    config = JudgeConfig(nan_strategy=NanStrategy.REPLACE)
    verdict = judge([5.0, 5.1, 4.9, 5.2, 5.0] * 3, [math.nan] * 15, config)
    assert verdict.classification is Classification.LOW


def test_one_observation_against_a_single_zero_is_an_error_as_in_kayenta() -> None:
    # With one value each the shift interval collapses to one point where both values tie: Kayenta throws
    # ("all observations are tied") and NetflixACAJudge reports Error. (With two non-zero values the noise
    # Kayenta adds may or may not round away the tie: one observation each is never a sound comparison.)
    verdict = judge([0.0], [1.0], JudgeConfig())
    assert verdict.classification is Classification.ERROR
    assert verdict.reason is not None and "tied" in verdict.reason


def test_a_confidence_level_outside_zero_and_one_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence_level"):
        JudgeConfig(confidence_level=1.0)


# At least 5 observations a side, as an analysis with minRequests has: with one or two, the interval sits on
# the ends of the shift range, where Kayenta's root finder treats the two sides differently.
samples = st.lists(st.integers(min_value=0, max_value=20).map(float), min_size=5, max_size=25)


def clear_of_the_bounds(control: list[float], experiment: list[float], config: JudgeConfig) -> bool:
    """Whether the interval is further than the root finder's tolerance (1e-4) from the bounds, so that
    swapping the samples cannot move it across one by rounding alone."""
    verdict = judge(control, experiment, config)
    if verdict.estimate is None or verdict.lower is None or verdict.upper is None:
        return True
    bound = config.tolerance * abs(verdict.estimate)
    margin = 1e-3
    return abs(verdict.lower - bound) > margin and abs(verdict.upper + bound) > margin


@settings(max_examples=200, deadline=None)
@given(control=samples, experiment=samples)
def test_swapping_stable_and_candidate_flips_high_and_low_when_either_direction_counts(
    control: list[float], experiment: list[float]
) -> None:
    config = JudgeConfig(direction=Direction.EITHER)
    assume(clear_of_the_bounds(control, experiment, config))
    forward = judge(control, experiment, config)
    backward = judge(experiment, control, config)
    assume(forward.classification in FLIPPED)
    assert backward.classification == FLIPPED[forward.classification]


@settings(max_examples=200, deadline=None)
@given(
    sample=st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=0, max_size=30),
    direction=st.sampled_from(list(Direction)),
    nan_strategy=st.sampled_from(list(NanStrategy)),
)
def test_a_sample_compared_with_itself_is_a_pass(
    sample: list[float], direction: Direction, nan_strategy: NanStrategy
) -> None:
    verdict = judge(sample, list(reversed(sample)), JudgeConfig(direction=direction, nan_strategy=nan_strategy))
    if not [v for v in sample if not math.isnan(v)] and nan_strategy is NanStrategy.REMOVE:
        assert verdict.classification is Classification.NODATA
    else:
        assert verdict.classification is Classification.PASS


@settings(max_examples=100, deadline=None)
@given(
    control=samples,
    experiment=samples,
    shift=st.floats(min_value=50.0, max_value=1000.0),
)
def test_a_clear_shift_is_high_one_way_and_low_the_other(
    control: list[float], experiment: list[float], shift: float
) -> None:
    config = JudgeConfig(direction=Direction.EITHER)
    shifted = [v + shift for v in experiment]
    assert judge(control, shifted, config).classification is Classification.HIGH
    assert judge(shifted, control, config).classification is Classification.LOW
