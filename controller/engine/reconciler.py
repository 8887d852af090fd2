"""The reconciler: one pass of the GitOps loop (fetch -> load -> observe -> plan -> apply -> advance rollouts).

A pass never raises for a bad commit, a flaky API or a broken resource:
- a commit whose manifests fail validation is not applied; the last good manifests stay in force and the
  failure is reported once per commit;
- drift (live changed although the manifests did not) is reported each pass and corrected only with
  self-heal;
- a failing resource is retried with exponential backoff on later passes while the rest proceed, and
  its error is logged once per commit, not on every pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from controller.engine.audit import AuditLog
from controller.engine.executor import Executor, ResourceResult
from controller.engine.observe import observe
from controller.engine.rollout_driver import RolloutDriver
from controller.errors import GenaiopsError
from controller.loader import DEFAULT_REGION, LoadResult, load
from controller.model import Endpoint, Manifest
from controller.plans.plan import Action, Plan, ResourceChange
from controller.plans.planner import plan as make_plan
from controller.ports import TelemetryPort, VertexPort
from controller.rollout.events import RolloutStatus

log = logging.getLogger("genaiops.reconcile")


@dataclass(frozen=True)
class Checkout:
    """What a pass reconciles: a directory of manifests and, from git, its commit."""

    manifests: Path
    commit: str | None = None


@dataclass(frozen=True)
class PassReport:
    """The outcome of one pass."""

    commit: str | None
    ok: bool
    refused_commit: bool = False
    applied: tuple[str, ...] = ()
    failed: tuple[ResourceResult, ...] = ()
    drift: tuple[str, ...] = ()
    healed: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()  # resources backing off after failures
    rollouts: tuple[RolloutStatus, ...] = ()
    duration_s: float = 0.0


@dataclass
class _Backoff:
    failures: int
    retry_at: float
    error: str
    commit: str | None


@dataclass
class Reconciler:
    """Runs passes; keeps only what must survive between them (last good manifests, backoff, reported)."""

    fetch: Callable[[], Checkout]
    ports: Mapping[str, VertexPort]
    driver: RolloutDriver
    audit: AuditLog
    self_heal: bool = False
    prune: bool = False
    parallelism: int = 10
    clock: Callable[[], float] = time.time
    telemetry: TelemetryPort | None = None
    interrupted: Callable[[], str | None] = lambda: None
    default_region: str = DEFAULT_REGION
    backoff_base_s: float = 10.0
    backoff_max_s: float = 600.0
    _last_good: tuple[LoadResult, str | None] | None = None
    _refused: str | None = None
    _backoff: dict[str, _Backoff] = field(default_factory=dict)
    _reported: set[tuple[str, str | None, str]] = field(default_factory=set)

    def _once(self, key: tuple[str, str | None, str], message: str, *args: object) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.error(message, *args, extra={"commit": key[1]})

    def _source(self) -> tuple[LoadResult | None, str | None, bool]:
        """The manifests to reconcile: this commit's if valid, else the last good ones."""
        checkout = self.fetch()
        result = load(checkout.manifests, default_region=self.default_region)
        if result.ok:
            if checkout.commit != (self._last_good[1] if self._last_good else None):
                log.info(
                    "reconciling commit %s", checkout.commit or "(working tree)", extra={"commit": checkout.commit}
                )
            self._last_good = (result, checkout.commit)
            self._refused = None
            return result, checkout.commit, False
        if self._refused != (checkout.commit or ""):
            self._refused = checkout.commit or ""
            problems = "; ".join(d.render() for d in result.diagnostics[:20])
            log.error(
                "commit %s refused: its manifests are invalid (%d problems): %s",
                checkout.commit or "(working tree)",
                len(result.diagnostics),
                problems,
                extra={"commit": checkout.commit},
            )
            self.audit.write(
                event="commit-refused", commit=checkout.commit, problems=[d.render() for d in result.diagnostics]
            )
            if self.telemetry is not None:
                self.telemetry.error("invalid_commit")
        if self._last_good is None:
            return None, checkout.commit, True
        return self._last_good[0], self._last_good[1], True

    def _due(self, change: ResourceChange, now: float) -> bool:
        waiting = self._backoff.get(change.address)
        return waiting is None or waiting.retry_at <= now

    def _record(self, results: tuple[ResourceResult, ...], commit: str | None, now: float) -> None:
        stopping = self.interrupted()
        for result in results:
            if result.ok:
                self._backoff.pop(result.address, None)
                continue
            if stopping is not None and result.error.startswith("stopped before"):
                log.info("%s not finished: %s", result.address, stopping)  # not a failure: the next pass resumes
                continue
            previous = self._backoff.get(result.address)
            failures = (previous.failures if previous else 0) + 1
            delay = min(self.backoff_base_s * 2 ** (failures - 1), self.backoff_max_s)
            self._backoff[result.address] = _Backoff(failures, now + delay, result.error, commit)
            self._once(
                (result.address, commit, result.error),
                "%s failed: %s (retrying with backoff)",
                result.address,
                result.error,
            )
            if self.telemetry is not None:
                self.telemetry.error("resource")

    def run_pass(self) -> PassReport:
        """One reconcile pass. Raises only for errors outside any resource (e.g. the source cannot be read
        or the API cannot be listed), which the caller logs and retries on the next pass."""
        started = self.clock()
        result, commit, refused = self._source()
        if result is None:
            return PassReport(commit=commit, ok=False, refused_commit=True, duration_s=self.clock() - started)
        manifests = [item.manifest for item in result.manifests]
        observed = observe(self.ports, manifests)
        the_plan = make_plan(manifests, observed, prune=self.prune, target="reconcile")
        drift = tuple(c.address for c in the_plan.drifted)
        for address in drift:
            verb = "healing" if self.self_heal else "reporting only (run with --self-heal to correct it)"
            log.warning("%s changed outside genaiops; %s", address, verb, extra={"commit": commit, "resource": address})
        now = self.clock()
        todo = [c for c in the_plan.actionable if (self.self_heal or not c.drift) and self._due(c, now)]
        waiting = tuple(c.address for c in the_plan.actionable if not self._due(c, now))
        outcome: tuple[ResourceResult, ...] = ()
        if any(c.operations for c in todo):
            executor = Executor(
                ports=self.ports,
                audit=self.audit,
                parallelism=self.parallelism,
                replan=lambda change: self._replan(manifests, change),
                interrupted=self.interrupted,
                commit=commit,
            )
            outcome = executor.apply(replace(the_plan, changes=tuple(todo))).results
            self._record(outcome, commit, self.clock())
        rollouts = self._advance(manifests, the_plan)
        applied = tuple(r.address for r in outcome if r.ok)
        failed = tuple(r for r in outcome if not r.ok)
        healed = tuple(a for a in drift if a in applied)
        report = PassReport(
            commit=commit,
            ok=not failed and not refused,
            refused_commit=refused,
            applied=applied,
            failed=failed,
            drift=drift,
            healed=healed,
            waiting=waiting,
            rollouts=rollouts,
            duration_s=self.clock() - started,
        )
        self._report(report, the_plan)
        return report

    def _replan(self, manifests: Sequence[Manifest], change: ResourceChange) -> ResourceChange | None:
        fresh_observed = observe(self.ports, manifests, regions=[change.region])
        fresh = make_plan(manifests, fresh_observed, prune=self.prune)
        return next((c for c in fresh.changes if c.address == change.address), None)

    def _advance(self, manifests: Sequence[Manifest], the_plan: Plan) -> tuple[RolloutStatus, ...]:
        paused = {c.address for c in the_plan.changes if c.action is Action.NOOP and "suspended" in " ".join(c.reasons)}
        statuses = []
        for endpoint in manifests:
            if (
                not isinstance(endpoint, Endpoint)
                or endpoint.spec.rollout.strategy != "canary"
                or endpoint.spec.suspend
            ):
                continue
            if f"Endpoint/{endpoint.spec.region}/{endpoint.metadata.name}" in paused:
                continue
            try:
                status = self.driver.advance(endpoint)
            except GenaiopsError as err:
                self._once(
                    (f"Endpoint/{endpoint.metadata.name}", None, str(err)),
                    "rollout of %s: %s",
                    endpoint.metadata.name,
                    err,
                )
                continue
            if status is not None:
                statuses.append(status)
        return tuple(statuses)

    def _report(self, report: PassReport, the_plan: Plan) -> None:
        self.audit.write(
            event="reconcile-pass",
            commit=report.commit,
            ok=report.ok,
            applied=list(report.applied),
            failed=[r.address for r in report.failed],
            drift=list(report.drift),
            duration_ms=round(report.duration_s * 1000),
        )
        if self.telemetry is None:
            return
        telemetry = self.telemetry
        failed = {r.address for r in report.failed} | set(report.waiting)
        counts: dict[tuple[str, str], int] = {}
        for change in the_plan.changes:
            suspended = change.action is Action.NOOP and any("suspended" in r for r in change.reasons)
            status = (
                "suspended"
                if suspended
                else "failed"
                if change.address in failed
                else "in_sync"
                if change.action is Action.NOOP or change.address in report.applied
                else "out_of_sync"
            )
            counts[(change.kind, status)] = counts.get((change.kind, status), 0) + 1
        telemetry.set_resources(counts)
        telemetry.set_drift(len(report.drift) - len(report.healed))
        if report.commit:
            telemetry.set_commit(report.commit)
        for rollout in report.rollouts:
            telemetry.set_rollout(rollout.endpoint, rollout.state.deployment, rollout.state.phase.value, rollout.weight)
        telemetry.pass_finished(report.duration_s, report.ok)
