"""The `Budget` kind: spending limits that `genaiops plan` checks as policy.

A Budget declares, in US dollars, a monthly limit for serving (Endpoints: min replicas x 730 h), a
monthly limit for tuning (the training cost of the TuningJobs a plan starts) and a per-request limit for
prompts (their estimated cost per request). A plan that would exceed one fails with a diagnostic naming
the resources and the amounts (exit 1), unless the Budget holds an explicit, dated `override`: until and
on that day the plan passes with a note, the day after it fails again. The check itself is pure
(`controller/plans/costs.py`, with `today` passed in); this module only declares the shape.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from controller.model.common import Frozen, Metadata, StrictFloat


class Limits(Frozen):
    """The limits, in US dollars; a limit left out is not checked."""

    serving: StrictFloat | None = Field(
        default=None, ge=0, description="Monthly serving cost of all Endpoints (min replicas x 730 h), USD."
    )
    tuning: StrictFloat | None = Field(
        default=None, ge=0, description="Training cost of the TuningJobs one plan starts, USD."
    )
    per_request: StrictFloat | None = Field(
        default=None,
        ge=0,
        description="Estimated cost of one request of each Prompt, USD (plans show it per 1,000 requests).",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Limits:
        if self.serving is None and self.tuning is None and self.per_request is None:
            raise ValueError("a Budget needs at least one limit: serving, tuning or perRequest")
        return self


class Override(Frozen):
    """A dated, approved exception: plans may exceed the limits until and on `until`."""

    until: date = Field(description="The last day (YYYY-MM-DD) plans may exceed the limits.")
    reason: str = Field(min_length=1, description="Why the limits may be exceeded.")
    approved_by: str = Field(min_length=1, description="Who approved it.")


class BudgetSpec(Frozen):
    """What a `Budget` declares."""

    limits: Limits
    override: Override | None = None
    description: str | None = None


class Budget(Frozen):
    """Spending limits checked on every plan."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Budget"]
    metadata: Metadata
    spec: BudgetSpec


__all__ = ["Budget", "BudgetSpec", "Limits", "Override"]
