"""Experiment views (controller/views/experiment_report.py): the table and its lines rendered on a fixed-width
console, the one-line summary, and the JSON document, over a report built by hand (fixed numbers)."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import pytest
from rich.console import Console, RenderableType

from controller.rollout.assignment import SrmResult
from controller.rollout.experiment import (
    Better,
    Comparison,
    Conclusion,
    Decision,
    DecisionKind,
    ExperimentReport,
    Interval,
    Method,
    MetricResult,
    Outcome,
    Shortfall,
    VariantValue,
)
from controller.rollout.judge import Classification
from controller.rollout.verdicts import Bound, Breach
from controller.views.experiment_report import (
    decision_line,
    report_document,
    report_json,
    report_view,
    summary_line,
    winner_line,
)

ERRORS = MetricResult(
    "error-rate",
    Better.LOWER,
    (
        VariantValue("primary", 0.01, 2000),
        VariantValue(
            "challenger",
            0.0125,
            2010,
            Comparison(
                Outcome.NO_DIFFERENCE,
                Method.NEWCOMBE,
                difference=0.0025,
                interval=Interval(-0.0042, 0.0094, 0.95),
                p_value=0.454,
            ),
        ),
    ),
)
LATENCY = MetricResult(
    "latency-p99",
    Better.LOWER,
    (
        VariantValue("primary", 800.0, 2000),
        VariantValue(
            "challenger",
            600.0,
            2010,
            Comparison(
                Outcome.BETTER,
                Method.MANN_WHITNEY,
                difference=-193.4,
                interval=Interval(-207.2, -179.1, 0.95),
                p_value=1e-9,
                classification=Classification.LOW,
            ),
        ),
    ),
)
FEEDBACK = MetricResult(
    "feedback-score",
    Better.HIGHER,
    (
        VariantValue("primary", None, 2000),
        VariantValue(
            "challenger",
            4.1,
            2010,
            Comparison(Outcome.NOT_ENOUGH_DATA, Method.MANN_WHITNEY, shortfall=Shortfall.NO_DATA),
        ),
    ),
)
REPORT = ExperimentReport(
    control="primary",
    variants=("primary", "challenger"),
    weights={"primary": 50.0, "challenger": 50.0},
    requests={"primary": 2000, "challenger": 2010},
    metrics=(ERRORS, LATENCY),
    srm=SrmResult(chi2=0.025, p_value=0.874, mismatch=False, df=1, enough_data=True),
    min_requests=200,
    confidence=0.95,
    duration_over=True,
    conclusion=Conclusion.WINNER,
    winner="challenger",
    significant=True,
)
WAITING = Decision(DecisionKind.WAIT_FOR_HUMAN, Conclusion.WINNER, "challenger", auto_promote=False)


def rendered(renderable: RenderableType, *, width: int = 140) -> str:
    """What a console `width` columns wide prints, without colour."""
    console = Console(width=width, file=io.StringIO(), color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def row_of(text: str, metric: str) -> str:
    """The table line that starts the metric's row."""
    return next(line for line in text.splitlines() if f"│ {metric} " in line)


def test_the_table_shows_each_metric_with_both_values_the_difference_its_interval_p_and_verdict() -> None:
    text = rendered(report_view(REPORT, WAITING, name="support-chat"))
    assert "experiment support-chat: primary (control) vs challenger" in text
    latency = row_of(text, "latency-p99")
    for cell in ("lower is better", "800 ms", "challenger", "600 ms", "-193 ms [-207, -179]", "<0.001", "better"):
        assert cell in latency
    errors = row_of(text, "error-rate")
    for cell in ("1.00%", "1.25%", "+0.25 pp [-0.42, +0.94]", "0.454", "no significant difference"):
        assert cell in errors
    assert "95% intervals of treatment - control; minRequests 200" in text


def test_the_lines_under_the_table_give_the_split_the_winner_and_what_happens_next() -> None:
    text = rendered(report_view(REPORT, WAITING, name="support-chat"))
    assert "requests: primary 2,000 (weight 50%), challenger 2,010 (weight 50%); split as set (p 0.874)" in text
    assert "suggested winner: challenger (better on latency-p99; significantly worse on none)" in text
    assert "autoPromote is off: a human decides whether to promote challenger" in text


def test_a_comparison_without_data_says_what_it_lacked() -> None:
    text = rendered(report_view(dataclasses.replace(REPORT, metrics=(FEEDBACK,)), WAITING, name="c"), width=160)
    row = row_of(text, "feedback-score")
    assert "higher is better" in row
    assert "not enough data (no value)" in row
    assert "│ -  " in row  # the control's missing value and the missing difference


def test_a_breached_guardrail_is_shown_beside_the_value() -> None:
    breached = dataclasses.replace(
        ERRORS, variants=(ERRORS.variants[0], dataclasses.replace(ERRORS.variants[1], breach=Breach(Bound.MAX, 0.01)))
    )
    text = rendered(report_view(dataclasses.replace(REPORT, metrics=(breached,)), WAITING, name="c"), width=180)
    assert "1.25% (breaks max 1.00%)" in row_of(text, "error-rate")


def test_a_sample_ratio_mismatch_is_named_in_the_split_line() -> None:
    mismatch = dataclasses.replace(
        REPORT,
        srm=SrmResult(chi2=22.5, p_value=2e-6, mismatch=True, df=1, enough_data=True),
        conclusion=Conclusion.SAMPLE_RATIO_MISMATCH,
        winner=None,
    )
    text = rendered(report_view(mismatch, Decision(DecisionKind.WAIT_FOR_HUMAN, mismatch.conclusion), name="c"))
    assert "sample-ratio mismatch (p <0.001)" in text
    assert "no winner: the requests per variant do not fit the weights (sample-ratio mismatch)" in text


@pytest.mark.parametrize(
    ("conclusion", "words"),
    [
        (Conclusion.CONTROL_BETTER, "every treatment is significantly worse than the control"),
        (Conclusion.TRADE_OFF, "better on one metric and worse on another"),
        (Conclusion.GUARDRAIL_BREACHED, "breaks a metric's min or max"),
        (Conclusion.TIE, "several treatments are better on as many metrics"),
        (Conclusion.NO_SIGNIFICANT_DIFFERENCE, "no significant difference on any metric"),
        (Conclusion.NOT_ENOUGH_DATA, "not enough data on some metric"),
        (Conclusion.SAMPLE_RATIO_MISMATCH, "sample-ratio mismatch"),
    ],
)
def test_without_a_winner_the_line_says_why(conclusion: Conclusion, words: str) -> None:
    line = winner_line(dataclasses.replace(REPORT, conclusion=conclusion, winner=None)).plain
    assert line.startswith("no winner: ")
    assert words in line


@pytest.mark.parametrize(
    ("decision", "words"),
    [
        (
            Decision(DecisionKind.PROMOTE, Conclusion.WINNER, "challenger", True),
            "autoPromote: moving traffic to challenger",
        ),
        (Decision(DecisionKind.KEEP, Conclusion.CONTROL_BETTER, "primary", False), "keeping the control primary"),
        (Decision(DecisionKind.KEEP_RUNNING, Conclusion.WINNER, "challenger", True), "no decision until the duration"),
        (Decision(DecisionKind.WAIT_FOR_HUMAN, Conclusion.TRADE_OFF), "a human decides"),
        (WAITING, "a human decides whether to promote challenger"),
    ],
)
def test_the_decision_line_says_what_happens_next(decision: Decision, words: str) -> None:
    assert words in decision_line(REPORT, decision).plain


@pytest.mark.parametrize(
    ("decision", "line"),
    [
        (
            WAITING,
            "experiment chat: winner challenger (better on latency-p99); wait-for-human; "
            "requests primary 2000, challenger 2010",
        ),
        (
            Decision(DecisionKind.PROMOTE, Conclusion.WINNER, "challenger", True),
            "experiment chat: winner challenger (better on latency-p99); promote challenger; "
            "requests primary 2000, challenger 2010",
        ),
    ],
)
def test_the_summary_is_one_line_for_events(decision: Decision, line: str) -> None:
    assert summary_line(REPORT, decision, name="chat") == line


def test_the_summary_without_a_winner_names_the_conclusion() -> None:
    report = dataclasses.replace(REPORT, conclusion=Conclusion.NO_SIGNIFICANT_DIFFERENCE, winner=None)
    decided = Decision(DecisionKind.WAIT_FOR_HUMAN, report.conclusion)
    assert summary_line(report, decided, name="chat").startswith(
        "experiment chat: no winner (no-significant-difference); wait-for-human;"
    )


def test_the_json_document_holds_every_number_typed_and_is_versioned() -> None:
    document = json.loads(report_json(REPORT, WAITING, name="chat"))
    assert document == report_document(REPORT, WAITING, name="chat")
    assert (document["format_version"], document["experiment"], document["control"]) == ("1.0", "chat", "primary")
    assert document["variants"] == [
        {"name": "primary", "weight": 50.0, "requests": 2000},
        {"name": "challenger", "weight": 50.0, "requests": 2010},
    ]
    latency = document["metrics"][1]
    assert (latency["metric"], latency["better"]) == ("latency-p99", "lower")
    challenger = latency["variants"][1]
    assert challenger["comparison"] == {
        "outcome": "better",
        "method": "mann-whitney",
        "difference": -193.4,
        "interval": {"lower": -207.2, "upper": -179.1, "confidence": 0.95},
        "p_value": 1e-9,
        "shortfall": None,
        "classification": "Low",
    }
    assert latency["variants"][0]["comparison"] is None
    assert (document["conclusion"], document["winner"], document["significant"]) == ("winner", "challenger", True)
    assert document["decision"] == {"kind": "wait-for-human", "variant": "challenger", "auto_promote": False}


def test_numbers_that_are_not_finite_are_null_in_json() -> None:
    report = dataclasses.replace(
        REPORT, srm=SrmResult(chi2=math.inf, p_value=0.0, mismatch=True, df=1, enough_data=True)
    )
    document = json.loads(report_json(report, WAITING, name="chat"))
    assert document["srm"] == {"chi2": None, "p_value": 0.0, "mismatch": True, "enough_data": True}
