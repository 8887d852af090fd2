"""Sticky assignment (hash of salt, rollout and routing key into 10,000 buckets; ramps only add users) and
the sample-ratio-mismatch check (chi-squared, p < 0.001), with its p-values checked against tables."""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.rollout.assignment import (
    BUCKETS,
    assign,
    bucket,
    chi2_sf,
    gamma_q,
    percent_to_bp,
    srm,
    variant,
)

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None)
KEYS = [f"user-{i}" for i in range(10_000)]
routing_keys = st.text(min_size=1, max_size=40)
weights_bp = st.integers(min_value=0, max_value=BUCKETS)


def test_the_same_key_gets_the_same_bucket_and_version_every_time() -> None:
    for key in KEYS[:500]:
        first = bucket("salt", "prompt/greeting@prod", key)
        assert 0 <= first < BUCKETS
        assert bucket("salt", "prompt/greeting@prod", key) == first
        assert variant("salt", "prompt/greeting@prod", key, 2_500) == variant(
            "salt", "prompt/greeting@prod", key, 2_500
        )


def test_the_bucket_is_a_pinned_sha256_value_not_pythons_per_process_hash() -> None:
    # Pinned so a change of encoding (which would reshuffle every live user) fails here.
    payload = b"genaiops.assign.v1"
    for part in ("s", "r", "k"):
        payload += len(part).to_bytes(4, "big") + part.encode()
    expected = int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") % BUCKETS
    assert bucket("s", "r", "k") == expected


def test_the_parts_of_the_hash_input_cannot_run_into_each_other() -> None:
    shifted = [bucket("a:b", "c", key) != bucket("a", "b:c", key) for key in KEYS[:200]]
    assert sum(shifted) > 190


@pytest.mark.parametrize("percent", [1, 5, 10, 25, 50, 75, 90, 99])
def test_the_observed_share_is_within_two_points_of_the_weight_over_10000_keys(percent: int) -> None:
    on_candidate = sum(
        variant("salt", "prompt/greeting@prod", key, percent_to_bp(percent)) == "candidate" for key in KEYS
    )
    assert abs(100 * on_candidate / len(KEYS) - percent) <= 2.0


def test_weight_zero_sends_everyone_to_stable_and_full_weight_everyone_to_the_candidate() -> None:
    assert {variant("s", "r", key, 0) for key in KEYS[:1000]} == {"stable"}
    assert {variant("s", "r", key, BUCKETS) for key in KEYS[:1000]} == {"candidate"}


@PROPERTY
@given(key=routing_keys, lower=weights_bp, higher=weights_bp, rollout_id=st.text(max_size=20))
def test_raising_the_candidate_weight_only_adds_users_to_the_candidate(
    key: str, lower: int, higher: int, rollout_id: str
) -> None:
    lower, higher = sorted((lower, higher))
    if variant("salt", rollout_id, key, lower) == "candidate":
        assert variant("salt", rollout_id, key, higher) == "candidate"


def test_a_ramp_through_the_usual_steps_never_moves_a_user_back_to_stable() -> None:
    on_candidate: set[str] = set()
    for percent in (1, 5, 10, 20, 50, 100):
        now = {key for key in KEYS if variant("salt", "ramp", key, percent_to_bp(percent)) == "candidate"}
        assert on_candidate <= now
        on_candidate = now
    assert on_candidate == set(KEYS)


def test_different_rollouts_assign_the_same_keys_independently() -> None:
    first = [bucket("salt", "prompt/a@prod", key) for key in KEYS]
    second = [bucket("salt", "prompt/b@prod", key) for key in KEYS]
    mean_a, mean_b = sum(first) / len(first), sum(second) / len(second)
    covariance = sum((a - mean_a) * (b - mean_b) for a, b in zip(first, second, strict=True))
    spread_a = math.sqrt(sum((a - mean_a) ** 2 for a in first))
    spread_b = math.sqrt(sum((b - mean_b) ** 2 for b in second))
    assert abs(covariance / (spread_a * spread_b)) < 0.05  # standard error ~0.01 at 10,000 keys

    # At 50%/50%, being on one rollout's candidate says nothing about the other's: the 2x2 table is even.
    table = Counter(
        (variant("salt", "prompt/a@prod", key, 5_000), variant("salt", "prompt/b@prod", key, 5_000)) for key in KEYS
    )
    for cell in (("candidate", "candidate"), ("candidate", "stable"), ("stable", "candidate"), ("stable", "stable")):
        assert abs(table[cell] / len(KEYS) - 0.25) < 0.02
    # And a different salt reshuffles the same rollout.
    resalted = [bucket("other-salt", "prompt/a@prod", key) for key in KEYS]
    assert sum(a == b for a, b in zip(first, resalted, strict=True)) < 20


def test_a_request_without_a_routing_key_is_assigned_by_the_injected_random_source() -> None:
    draws = iter([0, 999, 1_000, 9_999])
    picks = [variant("s", "r", None, 1_000, rng=lambda n: next(draws)) for _ in range(4)]
    assert picks == ["candidate", "candidate", "stable", "stable"]
    # An empty key is no key: it must not herd every anonymous user into one bucket.
    assert variant("s", "r", "", 1_000, rng=lambda n: 0) == "candidate"
    assert variant("s", "r", "", 1_000, rng=lambda n: 5_000) == "stable"
    source = random.Random(7)
    share = sum(variant("s", "r", None, 3_000, rng=source.randrange) == "candidate" for _ in range(10_000))
    assert abs(share / 10_000 - 0.30) <= 0.02


def test_a_keyless_request_without_a_random_source_or_with_a_bad_one_is_refused() -> None:
    with pytest.raises(ValueError, match="random source"):
        variant("s", "r", None, 1_000)
    with pytest.raises(ValueError, match="outside"):
        variant("s", "r", None, 1_000, rng=lambda n: n)


def test_weights_outside_the_buckets_are_refused() -> None:
    for bad in (-1, BUCKETS + 1):
        with pytest.raises(ValueError):
            variant("s", "r", "k", bad)
    with pytest.raises(ValueError):
        percent_to_bp(100.5)
    assert percent_to_bp(12.5) == 1_250
    with pytest.raises(ValueError, match="sum"):
        assign("s", "r", "k", [("a", 5_000), ("b", 4_000)])
    with pytest.raises(ValueError, match="unique"):
        assign("s", "r", "k", [("a", 5_000), ("a", 5_000)])


def test_an_experiment_splits_10000_keys_within_two_points_of_each_weight() -> None:
    weights = [("B", 2_000), ("C", 3_000), ("A", 5_000)]
    counts = Counter(assign("salt", "exp/tone", key, weights) for key in KEYS)
    for name, weight in weights:
        assert abs(100 * counts[name] / len(KEYS) - weight / 100) <= 2.0
    assert [assign("salt", "exp/tone", key, weights) for key in KEYS[:300]] == [
        assign("salt", "exp/tone", key, weights) for key in KEYS[:300]
    ]
    assert not srm(dict(counts), {name: weight for name, weight in weights}).mismatch


@PROPERTY
@given(
    key=routing_keys,
    sizes=st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=4),
    boundary=st.integers(min_value=0, max_value=3),
    shift=st.integers(min_value=0, max_value=BUCKETS),
)
def test_moving_weight_across_one_boundary_moves_users_only_between_those_two_variants(
    key: str, sizes: list[int], boundary: int, shift: int
) -> None:
    control = BUCKETS - sum(sizes)
    names = [f"v{i}" for i in range(len(sizes))] + ["control"]
    before = [*sizes, control]
    i = boundary % (len(before) - 1)  # the boundary between variant i and variant i + 1
    moved = min(shift, before[i + 1])
    after = list(before)
    after[i] += moved
    after[i + 1] -= moved
    old = assign("salt", "exp", key, list(zip(names, before, strict=True)))
    new = assign("salt", "exp", key, list(zip(names, after, strict=True)))
    if old != new:
        assert (old, new) == (names[i + 1], names[i])  # only ever to the variant that gained weight


def test_a_fair_split_passes_the_sample_ratio_check() -> None:
    result = srm({"stable": 9_010, "candidate": 990}, {"stable": 9_000, "candidate": 1_000})
    assert not result.mismatch and result.enough_data and result.df == 1
    assert result.p_value > 0.5


def test_a_skewed_split_fails_the_sample_ratio_check() -> None:
    result = srm({"stable": 9_200, "candidate": 800}, {"stable": 90, "candidate": 10})
    assert result.mismatch
    assert result.chi2 == pytest.approx(200**2 / 9_000 + 200**2 / 1_000)
    assert result.p_value < 1e-9
    # Three-way: an experiment at 50/25/25 that saw 5000/2600/2400 is within chance (chi2 = 8, p = e^-4 ~ 0.018)...
    borderline = srm({"A": 5_000, "B": 2_600, "C": 2_400}, {"A": 0.5, "B": 0.25, "C": 0.25})
    assert borderline.chi2 == pytest.approx(8.0)
    assert not borderline.mismatch and borderline.p_value == pytest.approx(math.exp(-4.0))
    # ...one that saw 5000/2700/2300 is not (chi2 = 32, p ~ 1.1e-7).
    assert srm({"A": 5_000, "B": 2_700, "C": 2_300}, {"A": 0.5, "B": 0.25, "C": 0.25}).mismatch


def test_traffic_to_a_zero_weight_variant_is_a_mismatch_at_once() -> None:
    result = srm({"stable": 3, "candidate": 1}, {"stable": 100, "candidate": 0})
    assert result.mismatch and result.p_value == 0.0 and math.isinf(result.chi2)


def test_too_few_requests_never_call_a_mismatch() -> None:
    # 2 of 10 on a 1% candidate: the chi-squared approximation would say p ~ 1e-9; the data cannot.
    result = srm({"stable": 8, "candidate": 2}, {"stable": 99, "candidate": 1})
    assert not result.enough_data and not result.mismatch
    empty = srm({}, {"stable": 90, "candidate": 10})
    assert (empty.chi2, empty.p_value, empty.mismatch, empty.enough_data) == (0.0, 1.0, False, False)


def test_the_sample_ratio_check_refuses_malformed_input() -> None:
    with pytest.raises(ValueError, match="without a weight"):
        srm({"other": 1}, {"stable": 1})
    with pytest.raises(ValueError):
        srm({"stable": -1}, {"stable": 1})
    with pytest.raises(ValueError):
        srm({"stable": 1}, {"stable": 0})


# Critical values from the chi-squared table (NIST/SEMATECH e-Handbook 1.3.6.7.4), to the digits scipy gives.
TABLE = [
    (1, 3.841458820694124, 0.05),
    (1, 6.634896601021214, 0.01),
    (1, 10.827566170662733, 0.001),
    (2, 5.991464547107979, 0.05),
    (2, 13.815510557964274, 0.001),
    (3, 7.814727903251178, 0.05),
    (3, 16.26623619623813, 0.001),
    (4, 9.487729036781154, 0.05),
    (5, 11.070497693516351, 0.05),
    (10, 18.307038053275146, 0.05),
    (10, 23.209251158954356, 0.01),
    (10, 29.58829844507442, 0.001),
    (30, 43.77297182574219, 0.05),
    (100, 124.34211340400407, 0.05),
]


@pytest.mark.parametrize(("df", "x", "p"), TABLE)
def test_chi_squared_p_values_match_the_table(df: int, x: float, p: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(p, rel=1e-9)


@PROPERTY
@given(x=st.floats(min_value=1e-6, max_value=1_000.0))
def test_chi_squared_p_values_match_the_closed_forms_for_one_and_two_degrees_of_freedom(x: float) -> None:
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9, abs=1e-300)


def test_the_upper_incomplete_gamma_function_matches_known_values() -> None:
    assert gamma_q(1.0, 1.0) == pytest.approx(math.exp(-1.0), rel=1e-12)
    assert gamma_q(0.5, 2.0) == pytest.approx(math.erfc(math.sqrt(2.0)), rel=1e-12)
    # Q(3, x) = e^-x (1 + x + x^2/2): both the series (x < a + 1) and the continued fraction side.
    for x in (0.5, 3.9, 4.1, 25.0):
        assert gamma_q(3.0, x) == pytest.approx(math.exp(-x) * (1 + x + x * x / 2), rel=1e-12)
    assert chi2_sf(0.0, 3) == 1.0 and chi2_sf(math.inf, 3) == 0.0
