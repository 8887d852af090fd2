"""Experiments (A/B): measuring every variant over the experiment so far and asking the pure core
(`controller.rollout.experiment`) for the report and the decision.

A Prompt's experiment runs on its label's rollout record (one step at the new version's fixed weight for
the duration, `controller.prompts.canary.prompt_steps`); at the end the prompt rollout driver turns the
decision into the machine's `conclude`: promote the winner, keep the control, or wait for a person. An
Endpoint's experiment is its declared traffic split, measured per deployment; its report suggests, and a
person changes `traffic` in git (the manifests stay the source of truth for an endpoint's traffic).

Every metric the core compares by the judge needs per-interval values, so the samples are asked for with a
judge on each such metric (`series_metrics`); rates are compared as proportions from the totals.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.model import Endpoint, Metric, Prompt
from controller.observed import ObservedEndpoint, Sample
from controller.ports import MetricsPort, PromptMetricsPort
from controller.prompts.index import LabelRollout
from controller.rollout.experiment import (
    Decision,
    ExperimentReport,
    Method,
    decision,
    duration_over,
    endpoint_variants,
    experiment_report,
    method_of,
    prompt_variants,
)

_NO_METRICS = "this target has no metrics source for the runtime's prompt metrics"


def series_metrics(metrics: Sequence[Metric]) -> tuple[Metric, ...]:
    """The metrics as the providers must be asked for them: those the judge compares get a judge (so their
    per-interval values come back), the others as written."""
    asked = []
    for metric in metrics:
        if method_of(metric) is Method.MANN_WHITNEY and metric.judge is None:
            body = metric.model_dump(mode="json", by_alias=True, exclude_none=True)
            asked.append(Metric.model_validate({**body, "judge": "mann-whitney"}))
        else:
            asked.append(metric)
    return tuple(asked)


def prompt_report(
    metrics: PromptMetricsPort | None, prompt: Prompt, record: LabelRollout, *, now: float
) -> tuple[ExperimentReport, Decision]:
    """The report of a label's experiment from its start to `now`, and what to do about it."""
    rollout = prompt.spec.rollout
    settings, analysis = rollout.experiment, rollout.analysis
    if settings is None or analysis is None:
        raise ValueError(f"prompt {prompt.metadata.name!r} does not run an experiment")
    state = record.state
    variants = prompt_variants(control=state.stable_id, treatment=state.revision, settings=settings)
    start = float(state.step_started)
    asked = series_metrics(analysis.metrics)
    samples: dict[str, Sample] = {}
    for version in variants.weights:
        if metrics is None:
            samples[version] = Sample(error=_NO_METRICS)
        else:
            samples[version] = metrics.sample_prompt(
                prompt=prompt.metadata.name,
                label=state.deployment,
                version=version,
                start=start,
                end=now,
                metrics=asked,
            )
    report = experiment_report(
        samples=samples,
        weights=variants.weights,
        control=variants.control,
        metrics=analysis.metrics,
        min_requests=settings.min_requests,
        duration_over=duration_over(started_at=start, now=now, settings=settings),
        confidence=settings.confidence,
    )
    return report, decision(report, auto_promote=settings.auto_promote)


def endpoint_report(
    metrics: MetricsPort, endpoint: Endpoint, live: ObservedEndpoint, *, start: float, end: float
) -> tuple[ExperimentReport, Decision]:
    """The report of an Endpoint's experiment over [start, end]: each deployment with traffic, measured on
    the deployed model that serves it. `duration_over` is whether the window covers the whole duration."""
    spec = endpoint.spec
    settings, analysis = spec.rollout.experiment, spec.rollout.analysis
    if settings is None or analysis is None:
        raise ValueError(f"endpoint {endpoint.metadata.name!r} does not run an experiment")
    variants = endpoint_variants(spec)
    serving = {d.spec.name: d.id for d in live.deployed_models}
    asked = series_metrics(analysis.metrics)
    samples = {}
    for deployment in variants.weights:
        deployed = serving.get(deployment)
        samples[deployment] = (
            Sample(error=f"deployment {deployment} is not deployed on {live.endpoint_id}")
            if deployed is None
            else metrics.sample(
                region=spec.region,
                endpoint_id=live.endpoint_id,
                deployed_model_id=deployed,
                start=start,
                end=end,
                metrics=asked,
            )
        )
    report = experiment_report(
        samples=samples,
        weights=variants.weights,
        control=variants.control,
        metrics=analysis.metrics,
        min_requests=settings.min_requests,
        duration_over=duration_over(started_at=start, now=end, settings=settings),
        confidence=settings.confidence,
    )
    return report, decision(report, auto_promote=False)


__all__ = ["endpoint_report", "prompt_report", "series_metrics"]
