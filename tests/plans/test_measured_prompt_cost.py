"""A changed Prompt's cost per 1,000 requests from what the runtime measured for its current version: the
current version at its measured tokens, the planned one moved by its template's length change and capped by
its maxOutputTokens; without measurements, the estimate from the text (tests/plans/test_costs.py)."""

from __future__ import annotations

import pytest

from controller.plans.plan import Action
from controller.plans.pricing import MeasuredTokens, prompt_cost
from tests.plans.pricing_fakes import FakePrices, prompt_change, prompt_view

FLASH = "publishers/google/models/gemini-2.0-flash"
MEASURED = MeasuredTokens(input_tokens=1_000.0, output_tokens=500.0, requests=4_321)


def test_the_current_version_is_priced_at_its_measured_tokens() -> None:
    # flash: $0.10 / 1M input, $0.40 / 1M output: 1,000 in + 500 out = $0.0003 a request, $0.30 per 1,000
    before = prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=800)
    after = prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=800)
    cost = prompt_cost(prompt_change("answer", Action.UPDATE, before, after), FakePrices(), MEASURED)
    assert (cost.per_1k_requests_before, cost.per_1k_requests_after) == pytest.approx((0.30, 0.30))
    assert "measured 1,000 input and 500 output tokens per request of the current version over 4,321 requests" in (
        cost.notes
    )


def test_a_longer_template_adds_its_tokens_to_the_measured_input() -> None:
    before = prompt_view("x" * 400, vertex=FLASH)
    after = prompt_view("x" * 4_400, vertex=FLASH)  # 1,000 more estimated input tokens
    cost = prompt_cost(prompt_change("answer", Action.UPDATE, before, after), FakePrices(), MEASURED)
    assert cost.per_1k_requests_after == pytest.approx((2_000 * 0.10 + 500 * 0.40) / 1e6 * 1000)


def test_a_lower_max_output_tokens_caps_the_measured_output() -> None:
    before = prompt_view("x" * 400, vertex=FLASH)
    after = prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=100)
    cost = prompt_cost(prompt_change("answer", Action.UPDATE, before, after), FakePrices(), MEASURED)
    assert cost.per_1k_requests_after == pytest.approx((1_000 * 0.10 + 100 * 0.40) / 1e6 * 1000)


def test_without_measurements_the_text_estimate_is_used() -> None:
    before = prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=200)
    after = prompt_view("x" * 400, vertex=FLASH, maxOutputTokens=200)
    cost = prompt_cost(prompt_change("answer", Action.UPDATE, before, after), FakePrices())
    assert cost.per_1k_requests_before == pytest.approx((100 * 0.10 + 200 * 0.40) / 1e6 * 1000)
    assert any(note.startswith("estimated 100 input tokens") for note in cost.notes)
