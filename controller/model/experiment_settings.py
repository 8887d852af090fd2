"""Experiment (A/B) settings: `rollout: {strategy: experiment, experiment: {...}}` on a Prompt or an Endpoint.

An experiment holds fixed variant weights for a fixed `duration`, then compares every variant with the
control on the analysis metrics (rollout/experiment.py) and, with `autoPromote`, moves traffic or labels
to a significant winner. Who the variants are depends on the kind, not on these settings:

- Prompt: two variants, the label's current version (control) and the manifest's new version
  (treatment), the treatment at `weight` percent (default 50).
- Endpoint: its deployments with `traffic` > 0, at the weights `traffic` gives them; `control` names the
  baseline deployment (default: the first deployment listed). `weight` is refused there (the traffic
  split is the weights), which EndpointSpec checks.

This module holds only the settings and the checks that need nothing but them; `Rollout` (endpoint.py)
embeds them and refuses canary fields for an experiment and experiment fields for a canary.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from controller.model.analysis import Analysis
from controller.model.common import NAME_PATTERN, Duration, Frozen, StrictBool, StrictFloat, StrictInt, check_duration

DEFAULT_TREATMENT_WEIGHT = 50
MIN_DURATION_S = 60.0  # shorter than a minute is a typo: no interval-based series fits in it

# Analysis settings that judge canary measurements one window at a time; an experiment judges its whole
# duration at once, so they mean nothing there. Field name -> how the manifest spells it.
CANARY_ONLY_ANALYSIS = {
    "min_requests": "minRequests",
    "failure_limit": "failureLimit",
    "consecutive_failure_limit": "consecutiveFailureLimit",
    "inconclusive_limit": "inconclusiveLimit",
    "success_count": "successCount",
    "dry_run": "dryRun",
}


class Experiment(Frozen):
    """How an A/B experiment runs: for how long, with how much traffic, and who decides at the end."""

    duration: Duration = Field(
        description="How long the variant weights stay fixed before the report decides (at least 1m). The "
        "report is not acted on before then: stopping at the first significant peek inflates false winners."
    )
    weight: StrictInt | None = Field(
        default=None,
        ge=1,
        le=99,
        description=f"Prompts only: percent of each label's requests sent to the new version (default "
        f"{DEFAULT_TREATMENT_WEIGHT}). An Endpoint's variants take their weights from `traffic`.",
    )
    control: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="Endpoints only: the deployment every other variant is compared with (default: the first "
        "deployment listed). A Prompt's control is the version its label points at now.",
    )
    min_requests: StrictInt = Field(
        default=200,
        ge=1,
        description="Requests each variant must serve over the whole experiment before any metric is judged; "
        "below it every comparison is 'not enough data' and there is no winner.",
    )
    confidence: StrictFloat = Field(
        default=0.95,
        ge=0.8,
        le=0.999,
        description="Confidence level of every interval and verdict (0.95: a 95% interval; a difference is "
        "significant when its interval excludes no change).",
    )
    auto_promote: StrictBool = Field(
        default=False,
        description="At the end, move traffic (or the label) to the suggested winner when the result is "
        "significant. Off: the report suggests, a human decides. A treatment significantly worse than the "
        "control is ended either way, keeping the control.",
    )

    @field_validator("duration")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        return check_duration(value, minimum_s=MIN_DURATION_S)

    @property
    def treatment_weight(self) -> int:
        """A prompt experiment's treatment percent: `weight`, or the default."""
        return DEFAULT_TREATMENT_WEIGHT if self.weight is None else self.weight


def canary_only_analysis_fields(analysis: Analysis) -> list[str]:
    """The canary-only analysis settings written in `analysis` (manifest spelling), in declaration order."""
    return [alias for field, alias in CANARY_ONLY_ANALYSIS.items() if field in analysis.model_fields_set]
