"""Experiment views: an `ExperimentReport` and its `Decision` as a rich table with its verdict lines, a
versioned JSON document (`genaiops experiment report NAME --output json`), and one line for events.
Pure rendering: the report decides, this module only words its typed values.

The JSON document (fields are only ever added within format 1.x):

    {"format_version": "1.0", "experiment": NAME, "control": VARIANT, "confidence": 0.95,
     "min_requests": N, "duration_over": bool,
     "variants": [{"name", "weight" (percent of the split), "requests"}],
     "srm": {"chi2", "p_value", "mismatch", "enough_data"},
     "metrics": [{"metric", "better": "lower" | "higher" | null,
                  "variants": [{"name", "value", "requests", "breach": {"bound", "threshold"} | null,
                                "comparison": null (the control) | {"outcome", "method", "difference",
                                  "interval": {"lower", "upper", "confidence"} | null, "p_value",
                                  "shortfall", "classification"}}]}],
     "conclusion", "winner", "significant",
     "decision": {"kind", "variant", "auto_promote"}}

Latency values and differences are milliseconds; rates are fractions (the table shows percent and
percentage points); numbers that are not finite are null.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from controller.model.metric_thresholds import LATENCY_METRICS
from controller.rollout.experiment import (
    PROPORTION_METRICS,
    Comparison,
    Conclusion,
    Decision,
    DecisionKind,
    ExperimentReport,
    MetricResult,
    Outcome,
    Shortfall,
)
from controller.rollout.proportions import Interval

FORMAT_VERSION = "1.0"

_OUTCOME_STYLE = {
    Outcome.BETTER: "green",
    Outcome.WORSE: "red",
    Outcome.NO_DIFFERENCE: "",
    Outcome.NOT_ENOUGH_DATA: "yellow",
    Outcome.NOT_JUDGED: "dim",
}
_OUTCOME_WORDS = {
    Outcome.BETTER: "better",
    Outcome.WORSE: "worse",
    Outcome.NO_DIFFERENCE: "no significant difference",
    Outcome.NOT_ENOUGH_DATA: "not enough data",
    Outcome.NOT_JUDGED: "not judged",
}
_SHORTFALL_WORDS = {
    Shortfall.TOO_FEW_REQUESTS: "below minRequests",
    Shortfall.QUERY_FAILED: "query failed",
    Shortfall.NO_DATA: "no value",
    Shortfall.NO_SERIES: "no per-interval values",
    Shortfall.TEST_FAILED: "test could not run",
}
_CONCLUSION_WORDS = {
    Conclusion.CONTROL_BETTER: "every treatment is significantly worse than the control on some metric",
    Conclusion.TRADE_OFF: "a treatment is better on one metric and worse on another",
    Conclusion.GUARDRAIL_BREACHED: "the treatment that did best breaks a metric's min or max",
    Conclusion.TIE: "several treatments are better on as many metrics",
    Conclusion.NO_SIGNIFICANT_DIFFERENCE: "no significant difference on any metric",
    Conclusion.NOT_ENOUGH_DATA: "not enough data on some metric",
    Conclusion.SAMPLE_RATIO_MISMATCH: "the requests per variant do not fit the weights (sample-ratio mismatch): "
    "the results cannot be trusted; check the routing",
}


# --- numbers --------------------------------------------------------------------------------------------


def _is_rate(metric: str) -> bool:
    return metric in PROPORTION_METRICS


def value_text(metric: str, value: float | None) -> str:
    """A metric's value for people: `812 ms`, `1.25%`, `4.2`; `-` without one."""
    if value is None or not math.isfinite(value):
        return "-"
    if metric in LATENCY_METRICS:
        return f"{value:.0f} ms" if abs(value) >= 10 else f"{value:.3g} ms"
    if _is_rate(metric):
        return f"{value * 100:.2f}%"
    return f"{value:.4g}"


def _signed(metric: str, value: float) -> str:
    if metric in LATENCY_METRICS:
        return f"{value:+.0f} ms" if abs(value) >= 10 else f"{value:+.3g} ms"
    if _is_rate(metric):
        return f"{value * 100:+.2f} pp"
    return f"{value:+.4g}"


def _bound(metric: str, value: float) -> str:
    if metric in LATENCY_METRICS:
        return f"{value:+.0f}" if abs(value) >= 10 else f"{value:+.3g}"
    if _is_rate(metric):
        return f"{value * 100:+.2f}"
    return f"{value:+.4g}"


def difference_text(metric: str, comparison: Comparison) -> str:
    """`-200 ms [-231, -170]`: the difference (treatment - control) and its interval, in the value's unit
    (percentage points for rates)."""
    if comparison.difference is None or not math.isfinite(comparison.difference):
        return "-"
    text = _signed(metric, comparison.difference)
    interval = comparison.interval
    if interval is not None:
        text += f" [{_bound(metric, interval.lower)}, {_bound(metric, interval.upper)}]"
    return text


def p_value_text(p_value: float | None) -> str:
    """`0.003`, `<0.001`, or `-` when no test ran."""
    if p_value is None or math.isnan(p_value):
        return "-"
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def verdict_text(comparison: Comparison) -> Text:
    """`better`, `worse`, `no significant difference`, `not enough data (below minRequests)`, coloured."""
    words = _OUTCOME_WORDS[comparison.outcome]
    if comparison.shortfall is not None:
        words += f" ({_SHORTFALL_WORDS[comparison.shortfall]})"
    return Text(words, style=_OUTCOME_STYLE[comparison.outcome])


def _share(report: ExperimentReport, variant: str) -> float:
    return 100.0 * report.weights[variant] / sum(report.weights.values())


# --- lines ----------------------------------------------------------------------------------------------


def _better_on(report: ExperimentReport, variant: str) -> list[str]:
    return [
        result.metric
        for result in report.metrics
        if (comparison := result.of(variant).comparison) is not None and comparison.outcome is Outcome.BETTER
    ]


def winner_line(report: ExperimentReport) -> Text:
    """`suggested winner: challenger (better on latency-p99; worse on none)`, or why there is none."""
    if report.winner is not None:
        better = ", ".join(_better_on(report, report.winner))
        text = Text("suggested winner: ")
        text.append(report.winner, style="bold green")
        text.append(f" (better on {better}; significantly worse on none)")
        return text
    return Text(f"no winner: {_CONCLUSION_WORDS[report.conclusion]}", style="yellow")


def decision_line(report: ExperimentReport, decision: Decision) -> Text:
    """What happens next, in words."""
    match decision.kind:
        case DecisionKind.KEEP_RUNNING:
            return Text("running: no decision until the duration is over (an early look is not a result)")
        case DecisionKind.PROMOTE:
            return Text(f"autoPromote: moving traffic to {decision.variant}", style="bold green")
        case DecisionKind.KEEP:
            return Text(f"keeping the control {decision.variant}: the treatment is worse", style="bold red")
        case DecisionKind.WAIT_FOR_HUMAN:
            if decision.variant is not None:
                return Text(f"autoPromote is off: a human decides whether to promote {decision.variant}")
            return Text("a human decides: the experiment does not pick a variant by itself", style="yellow")


def srm_line(report: ExperimentReport) -> Text:
    """`requests: primary 2,000 (50%), challenger 2,010 (50%): split as set`, or the mismatch."""
    parts = ", ".join(
        f"{name} {report.requests[name]:,} (weight {_share(report, name):.4g}%)" for name in report.variants
    )
    text = Text(f"requests: {parts}; ")
    check = report.srm
    if check.mismatch:
        text.append(f"sample-ratio mismatch (p {p_value_text(check.p_value)})", style="bold red")
    elif not check.enough_data:
        text.append("too few requests to check the split")
    else:
        text.append(f"split as set (p {p_value_text(check.p_value)})")
    return text


# --- the table ------------------------------------------------------------------------------------------


def _rows(result: MetricResult, report: ExperimentReport) -> list[list[Text]]:
    control = result.of(report.control)
    rows: list[list[Text]] = []
    for value in result.variants:
        if value.comparison is None:
            continue
        comparison = value.comparison
        treatment = value_text(result.metric, value.value)
        if value.breach is not None:
            treatment += f" (breaks {value.breach.bound.value} {value_text(result.metric, value.breach.threshold)})"
        better = "" if result.better is None or rows else f"{result.better.value} is better"
        cells = (
            "" if rows else result.metric,
            better,
            value_text(result.metric, control.value),
            value.variant,
            treatment,
            difference_text(result.metric, comparison),
            p_value_text(comparison.p_value),
        )
        rows.append([*(Text(cell) for cell in cells), verdict_text(comparison)])  # Text: no markup in values
    return rows


def report_table(report: ExperimentReport, *, name: str) -> Table:
    """One row per metric and treatment: the control's value, the treatment's, the difference with its
    interval, the p-value and the verdict."""
    title = f"experiment {name}: {report.control} (control) vs {', '.join(report.treatments)}"
    caption = f"{report.confidence * 100:.4g}% intervals of treatment - control; minRequests {report.min_requests:,}"
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for column in ("metric", "", "control", "variant", "value", "difference [interval]", "p", "verdict"):
        table.add_column(Text(column), overflow="fold")
    for result in report.metrics:
        for row in _rows(result, report):
            table.add_row(*row)
    return table


def report_view(report: ExperimentReport, decision: Decision, *, name: str) -> Group:
    """The table, the split check, the suggested winner and what happens next."""
    return Group(
        report_table(report, name=name), srm_line(report), winner_line(report), decision_line(report, decision)
    )


def summary_line(report: ExperimentReport, decision: Decision, *, name: str) -> str:
    """One line for events and logs: `experiment chat: winner challenger (better on latency-p99); promote`."""
    if report.winner is not None:
        found = f"winner {report.winner} (better on {', '.join(_better_on(report, report.winner))})"
    else:
        found = f"no winner ({report.conclusion.value})"
    target = (
        f" {decision.variant}"
        if decision.variant is not None and decision.kind is not DecisionKind.WAIT_FOR_HUMAN
        else ""
    )
    requests = ", ".join(f"{v} {report.requests[v]}" for v in report.variants)
    return f"experiment {name}: {found}; {decision.kind.value}{target}; requests {requests}"


# --- JSON -----------------------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _interval_json(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {"lower": _finite(interval.lower), "upper": _finite(interval.upper), "confidence": interval.confidence}


def _comparison_json(comparison: Comparison | None) -> dict[str, Any] | None:
    if comparison is None:
        return None
    return {
        "outcome": comparison.outcome.value,
        "method": comparison.method.value,
        "difference": _finite(comparison.difference),
        "interval": _interval_json(comparison.interval),
        "p_value": _finite(comparison.p_value),
        "shortfall": None if comparison.shortfall is None else comparison.shortfall.value,
        "classification": None if comparison.classification is None else comparison.classification.value,
    }


def _metric_json(result: MetricResult) -> dict[str, Any]:
    return {
        "metric": result.metric,
        "better": None if result.better is None else result.better.value,
        "variants": [
            {
                "name": value.variant,
                "value": _finite(value.value),
                "requests": value.requests,
                "breach": None
                if value.breach is None
                else {"bound": value.breach.bound.value, "threshold": _finite(value.breach.threshold)},
                "comparison": _comparison_json(value.comparison),
            }
            for value in result.variants
        ],
    }


def report_document(report: ExperimentReport, decision: Decision, *, name: str) -> dict[str, Any]:
    """`experiment report --output json` as plain data (see the module docstring)."""
    return {
        "format_version": FORMAT_VERSION,
        "experiment": name,
        "control": report.control,
        "confidence": report.confidence,
        "min_requests": report.min_requests,
        "duration_over": report.duration_over,
        "variants": [{"name": v, "weight": _share(report, v), "requests": report.requests[v]} for v in report.variants],
        "srm": {
            "chi2": _finite(report.srm.chi2),
            "p_value": _finite(report.srm.p_value),
            "mismatch": report.srm.mismatch,
            "enough_data": report.srm.enough_data,
        },
        "metrics": [_metric_json(result) for result in report.metrics],
        "conclusion": report.conclusion.value,
        "winner": report.winner,
        "significant": report.significant,
        "decision": {"kind": decision.kind.value, "variant": decision.variant, "auto_promote": decision.auto_promote},
    }


def report_json(report: ExperimentReport, decision: Decision, *, name: str) -> str:
    """The JSON document as text (indented, strict JSON: no NaN)."""
    return json.dumps(report_document(report, decision, name=name), ensure_ascii=False, indent=2, allow_nan=False)
