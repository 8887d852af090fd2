"""The strategy compiler: canary specs -> compiled steps, and canary weights -> integer traffic splits that
always sum to 100 and always name someone (cases in tests/cases/rollout/strategy.yaml, canary_share.yaml)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.model import Rollout
from controller.rollout.strategy import INDEFINITE, canary_share, compile_steps, split_at
from tests.rollout_builders import load_cases, rollout

PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None)


def _pause(written: Any) -> float | None:
    if written == "indefinite":
        return INDEFINITE
    return None if written is None else float(written)


@pytest.mark.parametrize("case", load_cases("strategy"))
def test_a_rollout_spec_compiles_to_the_steps_in_the_table(case: dict[str, Any]) -> None:
    spec = rollout(case["rollout"])
    compiled = compile_steps(spec)
    assert [s.weight for s in compiled] == [s["weight"] for s in case["steps"]]
    assert [s.pause_s for s in compiled] == [_pause(s["pause"]) for s in case["steps"]]
    for index, (got, want) in enumerate(zip(compiled, case["steps"], strict=True)):
        match want["analysis"]:
            case None:
                assert got.analysis is None, f"step {index}"
            case "rollout":
                assert got.analysis is not None and got.analysis == spec.analysis, f"step {index}"
            case "step":
                assert got.analysis is not None and got.analysis == spec.steps[index].analysis, f"step {index}"
                assert got.analysis != spec.analysis, f"step {index}"


def test_an_indefinite_pause_is_infinite_so_no_clock_ever_reaches_it() -> None:
    (step,) = compile_steps(rollout({"steps": [{"weight": 10, "pause": "indefinite"}]}))
    assert step.pause_s is not None and math.isinf(step.pause_s)


def test_a_direct_rollout_compiles_to_no_steps() -> None:
    assert compile_steps(Rollout()) == ()


def test_the_shorthand_climbs_by_step_weight_to_max_weight_and_ends_exactly_there() -> None:
    for step_weight in range(1, 101):
        for max_weight in (None, *range(step_weight, 101)):
            spec: dict[str, Any] = {"stepWeight": step_weight}
            if max_weight is not None:
                spec["maxWeight"] = max_weight
            weights = [s.weight for s in compile_steps(rollout(spec))]
            top = max_weight or 100
            where = f"stepWeight {step_weight}, maxWeight {max_weight}: {weights}"
            assert weights[0] == step_weight, where
            assert weights[-1] == top, where
            assert all(0 < b - a <= step_weight for a, b in itertools.pairwise(weights)), where
            assert all(w % step_weight == 0 for w in weights[:-1]), where


@pytest.mark.parametrize("case", load_cases("canary_share"))
def test_the_canary_share_of_a_deployment_matches_the_table(case: dict[str, Any]) -> None:
    assert canary_share(case["weight"], case["share"]) == case["canary"]


def test_the_canary_share_stays_within_one_percent_of_the_exact_share() -> None:
    for share in range(101):
        for weight in range(101):
            canary = canary_share(weight, share)
            assert 0 <= canary <= share, (weight, share)
            assert abs(canary * 100 - share * weight) <= 100, (weight, share)


def test_more_weight_never_gives_the_canary_less() -> None:
    for share in range(101):
        shares = [canary_share(weight, share) for weight in range(101)]
        assert shares == sorted(shares), f"share {share}"


@st.composite
def base_splits(draw: st.DrawFn) -> tuple[dict[str, int], str, str, int]:
    """A live endpoint split summing to 100 with positive values, the stable id in it, a canary id, and
    the deployment's share (the stable's part, plus the canary's when the canary is already in)."""
    ids = draw(st.lists(st.sampled_from(["s1", "c2", "a", "b", "c", "d"]), min_size=1, max_size=5, unique=True))
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=len(ids) - 1, max_size=len(ids) - 1, unique=True)))
    values = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    base = dict(zip(ids, values, strict=True))
    stable = draw(st.sampled_from(ids))
    mid_rollout = draw(st.booleans())
    others = [i for i in ids if i != stable]
    canary = draw(st.sampled_from(others)) if mid_rollout and others else "new"
    share = base[stable] + base.get(canary, 0)
    return base, stable, canary, share


@PROPERTY
@given(world=base_splits())
def test_every_split_sums_to_100_and_gives_each_named_model_some_traffic(
    world: tuple[dict[str, int], str, str, int],
) -> None:
    for weight in range(101):
        _check_split(world, weight)


def _check_split(world: tuple[dict[str, int], str, str, int], weight: int) -> None:
    base, stable, canary, share = world
    split = split_at(base, stable=stable, canary=canary, share=share, weight=weight)
    where = f"weight {weight}, share {share}: {base} -> {split}"
    assert sum(split.values()) == 100, where
    assert all(v > 0 for v in split.values()), where
    assert all(split[k] == v for k, v in base.items() if k not in (stable, canary)), "others keep theirs: " + where
    on_canary, on_stable = split.get(canary, 0), split.get(stable, 0)
    assert on_canary + on_stable == share, where
    if weight > 0 and share >= 2:
        assert on_canary > 0, where
    if weight < 100 and share >= 2:
        assert on_stable > 0, where
    if weight == 100:
        assert on_canary == share and stable not in split, where
    if weight == 0:
        assert on_stable == share and canary not in split, where


def test_a_deployment_with_a_one_percent_share_sends_it_to_the_canary_at_any_weight_above_zero() -> None:
    for weight in range(1, 101):
        split = split_at({"s1": 1, "a": 99}, stable="s1", canary="c2", share=1, weight=weight)
        assert split == {"c2": 1, "a": 99}, f"weight {weight}"


def test_a_canary_step_of_a_whole_endpoint_moves_exactly_the_weight() -> None:
    assert split_at({"s1": 100}, stable="s1", canary="c2", share=100, weight=10) == {"s1": 90, "c2": 10}


def test_a_canary_mid_rollout_is_resplit_from_the_whole_share() -> None:
    base = {"s1": 45, "c2": 15, "other": 40}
    assert split_at(base, stable="s1", canary="c2", share=60, weight=50) == {"other": 40, "s1": 30, "c2": 30}


def test_full_weight_leaves_the_stable_out_of_the_split() -> None:
    base = {"s1": 30, "c2": 30, "other": 40}
    assert split_at(base, stable="s1", canary="c2", share=60, weight=100) == {"other": 40, "c2": 60}


def test_zero_weight_leaves_the_canary_out_of_the_split() -> None:
    base = {"s1": 30, "c2": 30, "other": 40}
    assert split_at(base, stable="s1", canary="c2", share=60, weight=0) == {"other": 40, "s1": 60}


def test_split_at_does_not_change_the_split_it_was_given() -> None:
    base = {"s1": 100}
    split_at(base, stable="s1", canary="c2", share=100, weight=50)
    assert base == {"s1": 100}
