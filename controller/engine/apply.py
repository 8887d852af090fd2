"""The one apply routine. `apply`, `apply PLANFILE`, `reconcile`, `demo` and `prompts publish` all call
`apply_changes`; the CLI only parses flags, opens a target, calls it and renders what it returns.

    lock -> plan (load: observe + planner + prompt store; or a saved plan, refused when stale) -> show
    -> refuse a plan with errors -> confirm -> execute every operation (endpoints, models, prompts alike)
    -> advance canary rollouts (one step, or to the end with `wait`) -> audit -> outcome

A pass may run without taking the lock (`locked=True`) when the caller holds the target's lease for
longer than one apply, as the reconcile loop's leader does. Exit codes are decided from the typed outcome
(`ApplyOutcome.exit_code`), never from text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from controller.engine.audit import AuditLog
from controller.engine.executor import ApplyResult, Executor
from controller.engine.planning import plan_load, stale
from controller.engine.prompt_rollouts import PromptRolloutDriver
from controller.engine.rollout_driver import RolloutDriver
from controller.engine.session import Session
from controller.errors import UserError
from controller.loader import LoadResult
from controller.model import Endpoint, Prompt
from controller.plans.operations import StartPromptRollout, StartRollout
from controller.plans.plan import Plan, ResourceChange
from controller.prompts.canary import new_rollout
from controller.prompts.prompt_plan import KIND as PROMPT_KIND
from controller.rollout.events import EventKind, RolloutEvent, RolloutStatus
from controller.rollout.state import Phase

EXIT_OK, EXIT_ERROR, EXIT_WAITING = 0, 1, 3


@dataclass(frozen=True)
class ApplyOptions:
    """How to apply."""

    prune: bool = False
    parallelism: int = 10
    wait: bool = False  # drive rollouts until each is promoted, rolled back or waits for a person
    wait_timeout_s: float = 3600.0
    lock_timeout_s: float = 0.0
    self_heal: bool = True  # correct drift (apply does; reconcile only with --self-heal)
    commit: str | None = None
    author: str = ""
    owner: str = ""  # who holds the lock, for "locked by" messages
    prompts_only: bool = False  # `prompts publish`: plan and apply the Prompt manifests, nothing on Vertex AI
    partial: bool = False  # apply what could be planned despite diagnostics for others (the reconcile loop)
    retry: frozenset[str] = frozenset()  # TuningJobs whose failed job starts again (`apply --retry`)


class Hooks(Protocol):
    """How the caller watches an apply (the CLI prints; the reconciler logs)."""

    def planned(self, plan: Plan) -> None:
        """The plan, before anything is applied."""

    def confirm(self, plan: Plan) -> None:
        """Raise UserError to cancel (the CLI asks unless --auto-approve)."""

    def step(self, line: str) -> None:
        """A line of progress from the executor."""

    def rollout(self, event: RolloutEvent) -> None:
        """A rollout event (started, measured, step, promoted, aborted, paused)."""


class QuietHooks:
    """Hooks that print nothing and confirm everything (reconcile, tests)."""

    def planned(self, plan: Plan) -> None:
        return

    def confirm(self, plan: Plan) -> None:
        return

    def step(self, line: str) -> None:
        return

    def rollout(self, event: RolloutEvent) -> None:
        return


@dataclass(frozen=True)
class ApplyOutcome:
    """What an apply did, as typed values the CLI and the reconciler decide from."""

    plan: Plan
    result: ApplyResult = field(default_factory=lambda: ApplyResult(()))
    rollouts: tuple[RolloutStatus, ...] = ()
    events: tuple[RolloutEvent, ...] = ()
    skipped: tuple[ResourceChange, ...] = ()  # actionable, but left for later (drift without self-heal)

    @property
    def rolled_back(self) -> tuple[RolloutStatus, ...]:
        """Rollouts this apply rolled back."""
        aborted = {(e.target, e.endpoint, e.deployment) for e in self.events if e.kind is EventKind.ABORTED}
        return tuple(
            s
            for s in self.rollouts
            if s.state.phase is Phase.DEGRADED and (s.target, s.endpoint, s.state.deployment) in aborted
        )

    @property
    def waiting(self) -> tuple[RolloutStatus, ...]:
        """Rollouts paused, or holding for a person, when the apply ended."""
        return tuple(s for s in self.rollouts if not s.finished and s.waiting_for_human)

    @property
    def ok(self) -> bool:
        """No resource failed and no rollout was rolled back."""
        return self.result.ok and not self.rolled_back

    def exit_code(self, *, wait: bool) -> int:
        """0 done (every rollout promoted with --wait), 1 an error or a rollback, 3 a rollout waits for a
        person (only with --wait: without it, rollouts advance one step per apply by design)."""
        if not self.ok:
            return EXIT_ERROR
        if wait and self.waiting:
            return EXIT_WAITING
        return EXIT_OK


# -- applying -------------------------------------------------------------------------------------------
def apply_changes(
    session: Session,
    source: LoadResult | Plan,
    *,
    options: ApplyOptions,
    audit: AuditLog,
    hooks: Hooks | None = None,
    notify: Callable[[RolloutEvent], None] = lambda _: None,
    select: Callable[[ResourceChange], bool] = lambda _: True,
    locked: bool = False,
    interrupted: Callable[[], str | None] = lambda: None,
) -> ApplyOutcome:
    """Apply `source` (manifests, or a saved plan) to the session's target. Raises GenaiopsError for what
    stops the whole apply (lock held, stale plan, a plan with errors); a failing resource is data in the
    outcome. `select` narrows what runs this time (the reconciler's backoff); `interrupted` says why to
    stop before the next operation (a signal), besides a lost lock."""
    hooks = hooks or QuietHooks()
    lock_id = None if locked else session.lock.acquire(owner=options.owner, wait_s=options.lock_timeout_s)

    def stop_reason() -> str | None:
        if getattr(session.lock, "lost", False):
            return "the apply lock was lost (another process took it over)"
        return interrupted()

    try:
        return _apply_locked(
            session, source, options=options, audit=audit, hooks=hooks, notify=notify, select=select, stop=stop_reason
        )
    finally:
        if lock_id is not None:
            session.lock.release(lock_id)


def _apply_locked(
    session: Session,
    source: LoadResult | Plan,
    *,
    options: ApplyOptions,
    audit: AuditLog,
    hooks: Hooks,
    notify: Callable[[RolloutEvent], None],
    select: Callable[[ResourceChange], bool],
    stop: Callable[[], str | None],
) -> ApplyOutcome:
    if isinstance(source, Plan):
        problems = stale(session, source)
        if problems:
            raise UserError(
                "the saved plan is stale, refusing to apply it:\n  "
                + "\n  ".join(problems)
                + "\nRun `genaiops plan` again."
            )
        the_plan = source
        result: LoadResult | None = None
    else:
        result = source
        the_plan = plan_load(
            session, source, prune=options.prune, prompts_only=options.prompts_only, retry=options.retry
        )
    hooks.planned(the_plan)
    if the_plan.errors and not options.partial:
        raise UserError("the plan has errors; nothing was applied")
    work = tuple(c for c in the_plan.actionable if c.operations)  # a rollout in progress has none: the driver's
    todo = tuple(c for c in work if (options.self_heal or not c.drift) and select(c))
    skipped = tuple(c for c in work if c not in todo)
    outcome = ApplyOutcome(the_plan, skipped=skipped)
    if todo:
        hooks.confirm(the_plan)
        outcome = replace(outcome, result=_execute(session, the_plan, todo, result, options, audit, hooks, stop))
    return _advance_rollouts(session, outcome, todo, options=options, audit=audit, hooks=hooks, notify=notify)


def _execute(
    session: Session,
    the_plan: Plan,
    todo: Sequence[ResourceChange],
    result: LoadResult | None,
    options: ApplyOptions,
    audit: AuditLog,
    hooks: Hooks,
    interrupted: Callable[[], str | None],
) -> ApplyResult:
    def replan(change: ResourceChange) -> ResourceChange | None:
        if result is None:  # a saved plan is applied exactly as reviewed, or not at all
            return None
        regions = [change.region] if change.kind in ("Endpoint", "Model") else []
        fresh = plan_load(session, result, prune=options.prune, regions=regions, prompts_only=options.prompts_only)
        return next((c for c in fresh.changes if c.address == change.address), None)

    prompts = session.prompts() if any(c.kind == PROMPT_KIND for c in todo) else None
    audit.write(event="apply-started", target=session.name, changes=len(todo), commit=options.commit)
    executor = Executor(
        ports=session.ports,
        audit=audit,
        parallelism=options.parallelism,
        replan=replan,
        on_event=hooks.step,
        interrupted=interrupted,
        commit=options.commit,
        clock=session.clock,
        prompts=prompts,
        author=options.author,
        tuning=session.tuning,
        alerts=session.alerts,
        report_dir=audit.path.parent / "reports" if audit.path is not None else None,
    )
    outcome = executor.apply(replace(the_plan, changes=tuple(todo)))
    audit.write(
        event="apply-finished",
        target=session.name,
        ok=outcome.ok,
        failed=[r.address for r in outcome.failed],
        commit=options.commit,
    )
    return outcome


def _advance_rollouts(
    session: Session,
    outcome: ApplyOutcome,
    todo: Sequence[ResourceChange],
    *,
    options: ApplyOptions,
    audit: AuditLog,
    hooks: Hooks,
    notify: Callable[[RolloutEvent], None],
) -> ApplyOutcome:
    endpoints, prompts = outcome.plan.endpoints, outcome.plan.prompts
    driver = (
        RolloutDriver(ports=session.ports, metrics=session.metrics, clock=session.clock, audit=audit, notify=notify)
        if endpoints and session.metrics is not None
        else None
    )
    prompt_driver = (
        PromptRolloutDriver(
            store=session.prompts(),
            metrics=session.prompt_metrics,
            clock=session.clock,
            audit=audit,
            notify=notify,
            author=options.author,
            commit=options.commit or "",
        )
        if prompts
        else None
    )
    if driver is None and prompt_driver is None:
        return outcome
    by_name = {e.metadata.name: e for e in endpoints}
    prompts_by_name = {p.metadata.name: p for p in prompts}
    done = {r.address for r in outcome.result.results if r.ok}
    events: list[RolloutEvent] = []
    for change in todo:
        for op in change.operations if change.address in done else ():
            event = None
            if isinstance(op, StartRollout) and op.endpoint_id in by_name and driver is not None:
                event = driver.announce_start(
                    by_name[op.endpoint_id],
                    deployment=op.deployment,
                    revision=op.revision,
                    weight=op.weight,
                    share=op.share,
                )
            elif isinstance(op, StartPromptRollout) and op.name in prompts_by_name and prompt_driver is not None:
                record = new_rollout(
                    label=op.label, stable=op.stable, candidate=op.version_id, weight=op.weight, now=session.clock()
                )
                event = prompt_driver.announce_start(prompts_by_name[op.name], record)
            if event is not None:
                hooks.rollout(event)
                events.append(event)
    suspended = {(c.kind, c.name) for c in outcome.plan.changes if c.suspended}
    active = [e for e in endpoints if ("Endpoint", e.metadata.name) not in suspended and not e.spec.suspend]
    live_prompts = [p for p in prompts if (PROMPT_KIND, p.metadata.name) not in suspended and not p.spec.suspend]
    statuses, driven = drive(
        driver,
        active,
        wait=options.wait,
        timeout_s=options.wait_timeout_s,
        hooks=hooks,
        clock=session.clock,
        prompt_driver=prompt_driver,
        prompts=live_prompts,
    )
    return replace(outcome, rollouts=tuple(statuses), events=(*events, *driven))


def drive(
    driver: RolloutDriver | None,
    endpoints: Sequence[Endpoint],
    *,
    wait: bool,
    timeout_s: float,
    hooks: Hooks,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    prompt_driver: PromptRolloutDriver | None = None,
    prompts: Sequence[Prompt] = (),
) -> tuple[list[RolloutStatus], list[RolloutEvent]]:
    """Advance every rollout (endpoints' and prompt labels') one step; with `wait`, keep going until each is
    promoted, rolled back or waits for a person. Polls at least every second, so a failing measurement is
    acted on at once."""
    deadline = clock() + timeout_s
    events: list[RolloutEvent] = []
    while True:
        statuses = [s for e in endpoints if driver is not None and (s := driver.advance(e)) is not None]
        if prompt_driver is not None:
            statuses.extend(s for p in prompts for s in prompt_driver.advance(p))
        for status in statuses:
            for event in status.events:
                hooks.rollout(event)
                events.append(event)
        active = [s for s in statuses if not s.finished and not s.waiting_for_human]
        if not wait or not active:
            return statuses, events
        if clock() > deadline:
            raise UserError(f"timed out after {timeout_s:.0f}s waiting for rollouts: {[s.name for s in active]}")
        upcoming = [s.next_at for s in active if s.next_at is not None]
        pause = min(upcoming) - clock() if upcoming else 1.0
        sleep(min(max(pause, 0.1), 1.0))


__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_WAITING",
    "ApplyOptions",
    "ApplyOutcome",
    "Hooks",
    "QuietHooks",
    "apply_changes",
    "drive",
]
