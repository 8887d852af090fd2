"""Planning a load against a session: observe Vertex AI (list calls), read the prompt store, run the pure
planner and the prompt planner, and say which parts of a saved plan went stale. Used by the apply routine,
`plan`, `status` and the re-plan after a conflict. Every plan is priced (the bundled price table under the
manifests' PriceBooks) and checked against their Budgets on the session clock's day. The load's warnings (a
model retiring within the horizon) come first among the plan's diagnostics, so every view shows them.
`lifecycle_health` marks the resources calling a model that retires within the horizon `retiring`, for
`status` and the dashboard alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from controller.cost import bundled
from controller.diagnostics import Source
from controller.engine.alert_facts import live_fingerprints, plan_alert_part
from controller.engine.observe import observe
from controller.engine.session import Session
from controller.engine.tuning_facts import Tuned, plan_tuning, tuned_sources
from controller.errors import UserError
from controller.loader import LoadResult
from controller.loader.checks import Located
from controller.loader.model_refs import outdated_refs
from controller.model import Budget, Endpoint, Manifest, Metric, Pipeline, PriceBook, Prompt, TuningJob
from controller.model.catalogue.lifecycle import Horizon, Lifecycle, Stage
from controller.plans.alert_plan import KINDS as ALERT_KINDS
from controller.plans.alert_plan import AlertPlan
from controller.plans.lifecycle_health import retiring_reason, with_retiring_health
from controller.plans.plan import Action, Plan, ResourceChange
from controller.plans.planner import plan as make_plan
from controller.plans.pricing import MeasuredTokens, priced
from controller.prompts.prompt_plan import KIND as PROMPT_KIND
from controller.prompts.prompt_plan import plan_prompts_with_fingerprints, prompt_fingerprints
from controller.prompts.source import sources_of


def sources(result: LoadResult) -> dict[str, Source]:
    """`Kind/name` -> where its document starts, for plan diagnostics."""
    return {
        f"{i.manifest.kind}/{i.manifest.metadata.name}": Source(i.file, *i.positions.of_value(()))
        for i in result.manifests
    }


def manifests_of(result: LoadResult) -> list[Manifest]:
    """The manifests of a load."""
    return [item.manifest for item in result.manifests]


def canary_endpoints(manifests: Iterable[object]) -> tuple[Endpoint, ...]:
    """Endpoints whose rollouts the driver advances."""
    return tuple(m for m in manifests if isinstance(m, Endpoint) and m.spec.rollout.strategy == "canary")


def canary_prompts(manifests: Iterable[object]) -> tuple[Prompt, ...]:
    """Prompts whose label rollouts the prompt rollout driver advances."""
    return tuple(m for m in manifests if isinstance(m, Prompt) and m.spec.rollout.strategy != "direct")


def plan_load(
    session: Session,
    result: LoadResult,
    *,
    prune: bool,
    regions: Iterable[str] | None = None,
    prompts_only: bool = False,
    retry: frozenset[str] = frozenset(),
) -> Plan:
    """Observe the target and the prompt store and plan every manifest of `result`, prompts included
    (only prompts with `prompts_only`). Refuses a load with errors: a partial load must never decide what
    to delete."""
    if not result.ok:
        raise UserError("the manifests have errors: nothing is planned (and nothing pruned) from a partial load")
    manifests = manifests_of(result)
    observed = None
    if prompts_only:
        vertex = Plan((), target=session.name)
    else:
        observed = observe(session.ports, manifests, regions=regions, model_garden=session.model_garden)
        vertex = make_plan(manifests, observed, prune=prune, sources=sources(result), target=session.name)
    tuned = Tuned()
    if not prompts_only and session.tuning is not None:
        job_regions = sorted({m.spec.region for m in manifests if isinstance(m, TuningJob | Pipeline)})
        tuned = plan_tuning(session.tuning, result, regions=job_regions, retry=retry, compiler=session.compile_pipeline)
    alerting = AlertPlan()
    if not prompts_only:
        alerting = plan_alert_part(
            session.alerts,
            manifests,
            project=session.project,
            prune=prune,
            sources=sources(result),
            observed=observed,
        )
    prompt_sources, waiting = tuned_sources(sources_of(result.manifests), manifests, tuned)
    prompts, prompt_prints = (
        plan_prompts_with_fingerprints(prompt_sources, session.prompts()) if prompt_sources else ((), {})
    )
    fingerprint = {**vertex.fingerprint, **alerting.fingerprint, **prompt_prints}
    whole = replace(
        vertex,
        changes=(*vertex.changes, *tuned.changes, *alerting.changes, *prompts),
        notes=(*vertex.notes, *alerting.notes, *waiting),
        diagnostics=(*result.warnings, *vertex.diagnostics, *tuned.diagnostics, *alerting.diagnostics),
        fingerprint=fingerprint,
        endpoints=() if prompts_only else canary_endpoints(manifests),
        prompts=canary_prompts(manifests),
        **environment_of(result),
    )
    return priced(
        whole,
        reduce(
            lambda table, book: table.with_book(book), (m for m in manifests if isinstance(m, PriceBook)), bundled()
        ),
        budgets=[m for m in manifests if isinstance(m, Budget)],
        today=datetime.fromtimestamp(session.clock(), UTC).date(),
        sources=sources(result),
        measured=measured_tokens(session, whole.changes),
    )


_Soonest = dict[tuple[str, str], tuple[Lifecycle, str]]  # (kind, name) -> its soonest retiring model, and how


def retiring_reasons(items: Iterable[Located], horizon: Horizon) -> dict[tuple[str, str], str]:
    """(kind, name) -> the health reason of each manifest writing a model that retires within the horizon
    (the soonest, when it writes several), and of each Prompt calling one through a Model or TuningJob
    manifest (`through NAME: ...`; its own model says more). Judged as `validate` judges (`outdated_refs`):
    a model already retired is an error of the load, not a health."""
    own: _Soonest = {}
    through: _Soonest = {}

    def keep(found: _Soonest, key: tuple[str, str], lc: Lifecycle, via: str) -> None:
        if key not in found or _days(lc) < _days(found[key][0]):
            found[key] = (lc, via)

    for judged in outdated_refs(items, horizon):
        if judged.lifecycle.stage is not Stage.RETIRING:
            continue
        manifest = judged.ref.item.manifest
        keep(own, (manifest.kind, manifest.metadata.name), judged.lifecycle, "base model " if judged.ref.tuned else "")
        for prompt in judged.used_by:  # `Prompt/NAME`
            kind, _, name = prompt.partition("/")
            keep(through, (kind, name), judged.lifecycle, f"through {manifest.metadata.name}: ")
    return {key: retiring_reason(lc, via=via) for key, (lc, via) in {**through, **own}.items()}


def _days(lifecycle: Lifecycle) -> int:
    return lifecycle.days_left if lifecycle.days_left is not None else 0


def lifecycle_health(plan: Plan, result: LoadResult, horizon: Horizon | None) -> Plan:
    """`plan` (of `result`) with each otherwise healthy resource calling a model that retires within the
    horizon marked `retiring` (`status` and the dashboard); no horizon: `plan` as it is."""
    reasons = retiring_reasons(result.manifests, horizon) if horizon is not None else {}
    return replace(plan, changes=with_retiring_health(plan.changes, reasons)) if reasons else plan


def environment_of(result: LoadResult) -> dict[str, Any]:
    """The Plan fields naming the environment `--env` merged in (none without one): its name, file, the
    target settings it gave and the values it set, with their origin."""
    environment = result.environment
    if environment is None:
        return {}
    spec = environment.spec
    settings = {
        "project": spec.project,
        "region": spec.region,
        "lockBucket": spec.lock_bucket,
        "promptStore": spec.prompt_store,
    }
    return {
        "environment": environment.metadata.name,
        "environment_file": environment_file(result),
        "environment_settings": {k: v for k, v in settings.items() if v},
        "overrides": result.overrides,
    }


def environment_file(result: LoadResult) -> str:
    """The file of the selected environment ("" without one)."""
    return result.environment_file


MEASURED_WINDOW_S = 7 * 24 * 3600.0
_TOKENS = (Metric(name="input-tokens-per-request", min=0), Metric(name="output-tokens-per-request", min=0))


def measured_tokens(session: Session, changes: Iterable[ResourceChange]) -> dict[str, MeasuredTokens]:
    """For each changed Prompt, what the runtime measured for its current version over the last week (under
    the first label that serves it): tokens per request a model answered. Nothing when the target has no
    runtime metrics, or the version served no request; a failed read is left out (the plan estimates)."""
    if session.prompt_metrics is None:
        return {}
    now = session.clock()
    found: dict[str, MeasuredTokens] = {}
    for change in changes:
        if change.kind != PROMPT_KIND or change.action is Action.NOOP or not change.before:
            continue
        version = str(change.before.get("version", ""))
        labels = change.before.get("labels") or {}
        label = next((lb for lb, v in sorted(labels.items()) if v == version), None)
        if not version or label is None:
            continue
        sample = session.prompt_metrics.sample_prompt(
            prompt=change.name, label=label, version=version, start=now - MEASURED_WINDOW_S, end=now, metrics=_TOKENS
        )
        tokens_in, tokens_out = (sample.values.get(m.name) for m in _TOKENS)
        if sample.error is None and sample.requests and tokens_in is not None and tokens_out is not None:
            found[change.name] = MeasuredTokens(tokens_in, tokens_out, sample.requests)
    return found


def stale(session: Session, saved: Plan) -> list[str]:
    """Addresses whose live state changed since the saved plan was made (re-observed now)."""
    regions = {c.region for c in saved.changes if c.kind in ("Endpoint", "Model")}
    live = dict(observe(session.ports, [], regions=regions).fingerprint()) if regions else {}
    if any(c.kind in ALERT_KINDS for c in saved.actionable):
        live.update(live_fingerprints(session.alerts))
    names = [c.name for c in saved.actionable if c.kind == PROMPT_KIND]
    if names:
        live.update(prompt_fingerprints(names, session.prompts()))
    problems = []
    for change in saved.actionable:
        before = saved.fingerprint.get(change.address, "")
        now = live.get(change.address, "")
        if before != now:
            was = "absent" if not before else f"version {before}"
            is_ = "absent" if not now else f"version {now}"
            problems.append(f"{change.address} changed since planning ({was} -> {is_})")
    return problems
