"""Budgets as policy, purely: a priced plan (`PlanCost`) checked against the `Budget` manifests on `today`
(passed in, never read here).

A limit fails the plan (an error diagnostic at the Budget's limit, so `plan` exits 1 and `apply` refuses)
when the plan would take a cost over it and raises that cost:
- serving: the monthly cost of every Endpoint after the plan (changed or not) above `limits.serving`;
- tuning: the one-off training cost of the TuningJobs the plan starts above `limits.tuning`;
- perRequest: a changed Prompt whose estimated cost per request is above `limits.perRequest`.
The diagnostic names the Budget, the amount, the limit, the excess and each resource with its share.

A cost that is over the limit already and that the plan does not raise is a note, not a failure (a plan
that lowers an over-budget cost must not be blocked). A Budget whose `override` runs until `today` or later
turns its failures into notes that name the override; from the day after `until`, they fail again, and the
diagnostic says the override expired. Unpriced resources are left out of the sums, with a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from controller.diagnostics import Diagnostic, Source
from controller.model import Budget
from controller.plans.costs import CostKind, PlanCost, ResourceCost, per_1k_usd, per_request_usd, signed_usd, usd

_EPSILON = 1e-9  # amounts are floats: "over" means over by more than rounding


@dataclass(frozen=True)
class Breach:
    """One limit a plan would exceed: the message (amounts included) and the field of the Budget."""

    budget: str
    path: str
    message: str


@dataclass(frozen=True)
class BudgetVerdict:
    """What the plan must carry: errors that fail it, and notes (overrides used, costs over already)."""

    diagnostics: tuple[Diagnostic, ...] = ()
    notes: tuple[str, ...] = ()


def _serving(name: str, limit: float, cost: PlanCost) -> tuple[Breach | None, str | None]:
    after = cost.monthly_after(CostKind.SERVING)
    before = cost.monthly_before(CostKind.SERVING)
    if after - limit <= _EPSILON:
        return None, None
    lines = [line for line in cost.lines if line.kind is CostKind.SERVING and line.priced]
    moved = sorted((line for line in lines if abs(line.monthly_delta) > _EPSILON), key=lambda c: -c.monthly_delta)
    parts = [f"{line.address} {signed_usd(line.monthly_delta)}" for line in moved]
    kept = sum(line.monthly_after or 0.0 for line in lines if abs(line.monthly_delta) <= _EPSILON)
    if kept > _EPSILON:
        parts.append(f"unchanged endpoints {usd(kept)}")
    text = (
        f"Budget/{name}: serving would cost {usd(after)}/month, over the limit {usd(limit)} by {usd(after - limit)}"
        + (f" ({', '.join(parts)})" if parts else "")
    )
    if after - before <= _EPSILON:
        return None, f"{text}; this plan does not raise it ({signed_usd(after - before)}/month)"
    return Breach(name, "spec.limits.serving", text), None


def _tuning(name: str, limit: float, cost: PlanCost) -> Breach | None:
    lines = [line for line in cost.lines if line.kind is CostKind.TUNING and line.priced]
    total = sum(line.one_off or 0.0 for line in lines)
    if total - limit <= _EPSILON:
        return None
    parts = ", ".join(f"{line.address} {usd(line.one_off or 0.0)}" for line in lines)
    return Breach(
        name,
        "spec.limits.tuning",
        f"Budget/{name}: the tuning jobs this plan starts would cost {usd(total)}, over the monthly limit "
        f"{usd(limit)} by {usd(total - limit)} ({parts})",
    )


def _per_request(name: str, limit: float, cost: PlanCost) -> tuple[Breach | None, tuple[str, ...]]:
    over: list[ResourceCost] = []
    notes: list[str] = []
    for line in cost.lines:
        if line.kind is not CostKind.PROMPT or line.per_1k_requests_after is None:
            continue
        each = line.per_1k_requests_after / 1000
        if each - limit <= _EPSILON:
            continue
        raised = line.changed and (line.per_1k_delta or 0.0) > _EPSILON
        if raised:
            over.append(line)
        else:
            notes.append(
                f"Budget/{name}: {line.address} costs {per_request_usd(each)} per request, over the limit "
                f"{per_request_usd(limit)} already; this plan does not raise it"
            )
    if not over:
        return None, tuple(notes)
    parts = [
        f"{line.address} {per_request_usd((line.per_1k_requests_after or 0.0) / 1000)} per request "
        f"({per_1k_usd(line.per_1k_requests_after or 0.0)} per 1,000, "
        f"{per_1k_usd(line.per_1k_delta or 0.0, signed=True)}), "
        f"over by {per_request_usd((line.per_1k_requests_after or 0.0) / 1000 - limit)}"
        for line in over
    ]
    text = (
        f"Budget/{name}: {len(over)} prompt{'s' if len(over) != 1 else ''} would cost more than the limit "
        f"{per_request_usd(limit)} per request ({per_1k_usd(limit * 1000)} per 1,000): " + "; ".join(parts)
    )
    return Breach(name, "spec.limits.perRequest", text), tuple(notes)


def breaches(budget: Budget, cost: PlanCost) -> tuple[tuple[Breach, ...], tuple[str, ...]]:
    """The limits of one Budget the plan would exceed, and notes for costs over a limit already."""
    name, limits = budget.metadata.name, budget.spec.limits
    found: list[Breach] = []
    notes: list[str] = []
    if limits.serving is not None:
        breach, note = _serving(name, limits.serving, cost)
        found += [breach] if breach is not None else []
        notes += [note] if note is not None else []
    if limits.tuning is not None:
        breach = _tuning(name, limits.tuning, cost)
        found += [breach] if breach is not None else []
    if limits.per_request is not None:
        breach, more = _per_request(name, limits.per_request, cost)
        found += [breach] if breach is not None else []
        notes += more
    return tuple(found), tuple(notes)


def check_budgets(
    cost: PlanCost, budgets: Iterable[Budget], *, today: date, sources: Mapping[str, Source] | None = None
) -> BudgetVerdict:
    """Every Budget against the plan's cost on `today`; `sources` maps `Budget/name` to where it is declared."""
    diagnostics: list[Diagnostic] = []
    notes: list[str] = []
    budgets = tuple(budgets)
    for budget in budgets:
        found, over_already = breaches(budget, cost)
        notes += over_already
        override = budget.spec.override
        source = (sources or {}).get(f"Budget/{budget.metadata.name}", Source("(budget)"))
        for breach in found:
            if override is not None and today <= override.until:
                notes.append(
                    f"{breach.message}; allowed by its override until {override.until.isoformat()} "
                    f"(approved by {override.approved_by}: {override.reason})"
                )
                continue
            detail = (
                f"its override (approved by {override.approved_by}) expired on {override.until.isoformat()}"
                if override is not None
                else "raise the limit, change the plan, or add a dated override (spec.override: until, reason, "
                "approvedBy)"
            )
            diagnostics.append(Diagnostic(breach.message, source, breach.path, detail=detail))
    if budgets and cost.unpriced:
        names = ", ".join(line.address for line in cost.unpriced)
        notes.append(f"not counted against the budgets (no price): {names}")
    return BudgetVerdict(tuple(diagnostics), tuple(notes))


__all__ = ["Breach", "BudgetVerdict", "breaches", "check_budgets"]
