"""The experiment page: an A/B experiment's report as `genaiops experiment report` computes it
(`engine/experiments.py`: the same samples, the same pure report and decision), shaped for the page.

For a Prompt, one label's experiment from its start (the label's rollout record) to now; for an Endpoint,
each deployment with traffic over the experiment's duration up to now (the command's default window).
Words (the decision, the split check) come from the command's view, so the page and the CLI agree.
"""

from __future__ import annotations

import math

from controller.dashboard.rollout_page import unit_name
from controller.dashboard.shapes import ExperimentMetric, ExperimentPage, VariantStats
from controller.engine.experiments import endpoint_report, prompt_report
from controller.errors import NotFoundError, UserError
from controller.model import Endpoint, Prompt, duration_seconds
from controller.ports import MetricsPort, PromptMetricsPort, VertexPort
from controller.prompts.index import PromptIndex
from controller.rollout.experiment import Decision, ExperimentReport, MetricResult
from controller.views.experiment_report import decision_line, difference_text, p_value_text, srm_line


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def metric_of(result: MetricResult, report: ExperimentReport) -> ExperimentMetric:
    """One metric across the variants: each variant's value and the interval of its difference to the
    control; the verdict of each treatment (`variant: outcome` when there are several)."""
    variants = []
    verdicts, details = [], []
    for value in result.variants:
        comparison = value.comparison
        interval = comparison.interval if comparison is not None else None
        variants.append(
            VariantStats(
                variant=value.variant,
                requests=value.requests,
                value=_finite(value.value),
                low=_finite(interval.lower) if interval is not None else None,
                high=_finite(interval.upper) if interval is not None else None,
            )
        )
        if comparison is not None:
            outcome = comparison.outcome.value
            verdicts.append(outcome if len(report.treatments) == 1 else f"{value.variant}: {outcome}")
            shortfall = f" ({comparison.shortfall.value})" if comparison.shortfall is not None else ""
            details.append(
                f"{value.variant} {difference_text(result.metric, comparison)}, p {p_value_text(comparison.p_value)}"
                f"{shortfall}"
            )
    return ExperimentMetric(
        name=result.metric,
        unit=unit_name(result.metric),
        better="higher" if result.better is not None and result.better.value == "higher" else "lower",
        variants=variants,
        verdict="; ".join(verdicts),
        detail="; ".join(details),
    )


def experiment_page(
    report: ExperimentReport,
    decided: Decision,
    *,
    kind: str,
    name: str,
    part: str,
    started_at: float | None,
    ends_at: float | None,
) -> ExperimentPage:
    """The page of a report and its decision."""
    return ExperimentPage(
        kind=kind,  # type: ignore[typeddict-item]
        name=name,
        part=part,
        control=report.control,
        confidence=report.confidence,
        started_at=started_at,
        ends_at=ends_at,
        decision=decision_line(report, decided).plain,
        metrics=[metric_of(result, report) for result in report.metrics],
        srm=srm_line(report).plain if report.srm.mismatch else "",
    )


def endpoint_experiment(port: VertexPort, metrics: MetricsPort, endpoint: Endpoint, *, now: float) -> ExperimentPage:
    """An Endpoint's experiment over its duration up to `now`."""
    live = port.get_endpoint(endpoint.metadata.name)
    if live is None:
        raise NotFoundError(f"endpoint {endpoint.metadata.name} does not exist yet: apply it first")
    settings = endpoint.spec.rollout.experiment
    assert settings is not None, "an experiment Endpoint has its settings"
    start = now - duration_seconds(settings.duration)
    report, decided = endpoint_report(metrics, endpoint, live, start=start, end=now)
    name = endpoint.metadata.name
    return experiment_page(report, decided, kind="Endpoint", name=name, part="", started_at=start, ends_at=now)


def prompt_experiment(
    index: PromptIndex | None, metrics: PromptMetricsPort | None, prompt: Prompt, *, label: str, now: float
) -> ExperimentPage:
    """A Prompt label's experiment from its start to `now` (`label` "" when only one label runs one)."""
    recorded = sorted(index.rollouts) if index is not None else []
    chosen = label or (recorded[0] if len(recorded) == 1 else "")
    if not chosen:
        which = ", ".join(recorded) or "none"
        raise UserError(f"prompt {prompt.metadata.name!r} has experiments on: {which}; name one with part=LABEL")
    record = index.rollouts.get(chosen) if index is not None else None
    if record is None:
        raise NotFoundError(f"label {chosen!r} of prompt {prompt.metadata.name!r} runs no experiment")
    report, decided = prompt_report(metrics, prompt, record, now=now)
    settings = prompt.spec.rollout.experiment
    start = float(record.state.step_started)
    ends = start + duration_seconds(settings.duration) if settings is not None else None
    name = prompt.metadata.name
    return experiment_page(report, decided, kind="Prompt", name=name, part=chosen, started_at=start, ends_at=ends)


__all__ = ["endpoint_experiment", "experiment_page", "metric_of", "prompt_experiment"]
