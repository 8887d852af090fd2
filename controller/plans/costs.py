"""What a plan costs, as typed values: one `ResourceCost` per priced resource and the `PlanCost` of the
whole plan, attached to the Plan (`Plan.cost`) by `plans/pricing.py`, saved in the planfile and rendered by
the views. Amounts are US dollars (floats); `None` means "could not be priced" (no price in the table),
never zero, so a total never silently leaves a resource out: `PlanCost.unpriced` names them.

Also the one way amounts are written for people (`usd`, `signed_usd`, `per_request_usd`), shared by the
views and the budget diagnostics so both say the same figures, and the JSON codec of the cost (the
`cost` object of the planfile and of `plan --output json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

HOURS_PER_MONTH = 730  # Google's monthly estimate: 24 h x 365 d / 12 months, rounded


class CostKind(StrEnum):
    """What a cost is for; each kind has its own Budget limit."""

    SERVING = "serving"  # Endpoints: monthly, min replicas x 730 h (max replicas as the range)
    TUNING = "tuning"  # TuningJobs: one-off training cost of a job the plan starts
    PROMPT = "prompt"  # Prompts: per 1,000 requests


@dataclass(frozen=True)
class ResourceCost:
    """The cost of one resource before and after the plan. Serving costs are monthly; a tuning job's is
    one-off; a prompt's is per 1,000 requests. `changed` is whether the plan changes the resource (views
    show changed resources; budgets count every one)."""

    address: str
    kind: CostKind
    changed: bool = True
    monthly_before: float | None = None
    monthly_after: float | None = None
    monthly_max_after: float | None = None  # at max replicas: the top of the range
    monthly_max_before: float | None = None
    one_off: float | None = None
    per_1k_requests_before: float | None = None
    per_1k_requests_after: float | None = None
    notes: tuple[str, ...] = ()  # estimates and prices missing or unconfirmed, for reviewers

    @property
    def priced(self) -> bool:
        """False when the amount that matters for its kind could not be priced."""
        match self.kind:
            case CostKind.SERVING:
                return self.monthly_before is not None and self.monthly_after is not None
            case CostKind.TUNING:
                return self.one_off is not None
            case CostKind.PROMPT:
                return self.per_1k_requests_after is not None

    @property
    def monthly_delta(self) -> float:
        """After minus before (0 when either is unknown)."""
        if self.monthly_before is None or self.monthly_after is None:
            return 0.0
        return self.monthly_after - self.monthly_before

    @property
    def monthly_max_delta(self) -> float:
        """The same at max replicas (0 when either is unknown)."""
        if self.monthly_max_before is None or self.monthly_max_after is None:
            return 0.0
        return self.monthly_max_after - self.monthly_max_before

    @property
    def per_1k_delta(self) -> float | None:
        """The change in cost per 1,000 requests (a new prompt: its whole cost); None when unknown."""
        if self.per_1k_requests_after is None:
            return None
        return self.per_1k_requests_after - (self.per_1k_requests_before or 0.0)


@dataclass(frozen=True)
class PlanCost:
    """The cost of a plan: every priced resource, the total monthly change, the one-off total and the date
    of the prices."""

    lines: tuple[ResourceCost, ...]
    total_monthly_delta: float
    total_one_off: float
    as_of: str
    total_monthly_max_delta: float = 0.0  # the same at max replicas

    @property
    def changed(self) -> tuple[ResourceCost, ...]:
        """The resources the plan changes (what the views list)."""
        return tuple(line for line in self.lines if line.changed)

    @property
    def unpriced(self) -> tuple[ResourceCost, ...]:
        """Resources left out of the totals: no price was found for them."""
        return tuple(line for line in self.lines if not line.priced)

    def monthly_after(self, kind: CostKind) -> float:
        """The monthly total of every priced resource of `kind` after the plan."""
        return sum(line.monthly_after or 0.0 for line in self.lines if line.kind is kind and line.priced)

    def monthly_before(self, kind: CostKind) -> float:
        """The same before the plan."""
        return sum(line.monthly_before or 0.0 for line in self.lines if line.kind is kind and line.priced)


def usd(amount: float) -> str:
    """`$1,234.56`."""
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def signed_usd(amount: float) -> str:
    """`+$876.00`, `-$12.50`, or `$0.00`."""
    if round(amount, 2) == 0:
        return "$0.00"
    return f"+${amount:,.2f}" if amount > 0 else f"-${-amount:,.2f}"


def per_1k_usd(amount: float, *, signed: bool = False) -> str:
    """An amount per 1,000 requests, to a hundredth of a cent: `$0.1570`, `+$0.0120`."""
    sign = ("+" if amount > 0 else "-" if amount < 0 else "") if signed else ("-" if amount < 0 else "")
    return f"{sign}${abs(amount):,.4f}"


def per_request_usd(amount: float) -> str:
    """An amount per request, to a millionth of a dollar: `$0.000157`."""
    return f"${amount:,.6f}"


# --- JSON (planfile and `plan --output json`) -----------------------------------------------------------

_FIELDS = (
    "monthly_before",
    "monthly_after",
    "monthly_max_before",
    "monthly_max_after",
    "one_off",
    "per_1k_requests_before",
    "per_1k_requests_after",
)


def cost_to_json(cost: PlanCost) -> dict[str, Any]:
    """The cost as plain JSON data, in a fixed key order."""
    return {
        "as_of": cost.as_of,
        "total_monthly_delta": cost.total_monthly_delta,
        "total_monthly_max_delta": cost.total_monthly_max_delta,
        "total_one_off": cost.total_one_off,
        "unpriced": [line.address for line in cost.unpriced],
        "lines": [
            {
                "address": line.address,
                "kind": line.kind.value,
                "changed": line.changed,
                **{name: getattr(line, name) for name in _FIELDS},
                "notes": list(line.notes),
            }
            for line in cost.lines
        ],
    }


def _amount(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number or null, got {type(value).__name__}")
    return float(value)


def cost_from_json(data: Mapping[str, Any]) -> PlanCost:
    """Inverse of `cost_to_json`; raises KeyError, TypeError or ValueError on malformed data."""
    lines = tuple(
        ResourceCost(
            address=str(line["address"]),
            kind=CostKind(line["kind"]),
            changed=bool(line["changed"]),
            monthly_before=_amount(line["monthly_before"]),
            monthly_after=_amount(line["monthly_after"]),
            monthly_max_after=_amount(line["monthly_max_after"]),
            monthly_max_before=_amount(line.get("monthly_max_before")),
            one_off=_amount(line["one_off"]),
            per_1k_requests_before=_amount(line["per_1k_requests_before"]),
            per_1k_requests_after=_amount(line["per_1k_requests_after"]),
            notes=tuple(str(n) for n in line["notes"]),
        )
        for line in data["lines"]
    )
    return PlanCost(
        lines=lines,
        total_monthly_delta=_amount(data["total_monthly_delta"]) or 0.0,
        total_one_off=_amount(data["total_one_off"]) or 0.0,
        as_of=str(data["as_of"]),
        total_monthly_max_delta=_amount(data.get("total_monthly_max_delta", 0.0)) or 0.0,
    )


__all__ = [
    "HOURS_PER_MONTH",
    "CostKind",
    "PlanCost",
    "ResourceCost",
    "cost_from_json",
    "cost_to_json",
    "per_1k_usd",
    "per_request_usd",
    "signed_usd",
    "usd",
]
