"""The reconciler: one pass of the GitOps loop (fetch -> load -> the engine's apply routine: observe -> plan
-> apply -> advance rollouts), the same routine `genaiops apply` runs, prompts included.

A pass never raises for a bad commit, a flaky API or a broken resource:
- a commit whose manifests fail validation is not applied; the last good manifests stay in force and the
  failure is reported once per commit, with paths relative to the repository and the commit id;
- drift (live changed although the manifests did not) is reported each pass and corrected only with
  self-heal;
- a failing resource is retried with exponential backoff on later passes while the rest proceed, and
  its error is logged once per commit, not on every pass;
- a rollback or a pause is logged at WARNING with its reason (and as JSON fields with --log-format json);
- a model a manifest names that retires within the horizon is announced as a `model-retiring` event (audit
  log and webhook) when its reference first shows up and again when its days left cross a threshold; one
  past its last day refuses the commit and is announced as `model-retired` (see `engine/notify.py`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from controller.diagnostics import Source
from controller.engine.apply import ApplyOptions, ApplyOutcome, QuietHooks, apply_changes
from controller.engine.audit import AuditLog
from controller.engine.executor import ResourceResult
from controller.engine.notify import ModelEvent, ModelEventKind, ModelNotices, threshold_of
from controller.engine.session import Session
from controller.loader import DEFAULT_REGION, LoadResult, load
from controller.loader.checks import Located
from controller.loader.errors import format_path
from controller.loader.model_refs import outdated_refs
from controller.model.catalogue.lifecycle import Horizon, Stage
from controller.plans.plan import Plan, ResourceChange, Sync
from controller.ports import TelemetryPort
from controller.rollout.events import EventKind, RolloutEvent, RolloutStatus, TargetKind

log = logging.getLogger("genaiops.reconcile")


@dataclass(frozen=True)
class Checkout:
    """What a pass reconciles: a directory of manifests and, from git, its commit."""

    manifests: Path
    commit: str | None = None
    root: Path | None = None  # the repository's work tree: diagnostics name files relative to it


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
    problems: tuple[str, ...] = ()  # plan diagnostics: those resources were left out of the pass
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
    session: Session
    audit: AuditLog
    notify: Callable[[RolloutEvent], None] = lambda _: None
    notify_models: Callable[[ModelEvent], None] = lambda _: None  # model-retiring / model-retired events
    self_heal: bool = False
    prune: bool = False
    parallelism: int = 10
    clock: Callable[[], float] = time.time
    telemetry: TelemetryPort | None = None
    interrupted: Callable[[], str | None] = lambda: None
    default_region: str = DEFAULT_REGION
    environment: str | None = None  # the `--env` merged over each commit's manifests
    horizon: Callable[[], Horizon] | None = None  # each pass judges the models on this day (None: no lifecycle)
    backoff_base_s: float = 10.0
    backoff_max_s: float = 600.0
    _last_good: tuple[LoadResult, str | None] | None = None
    _refused: str | None = None
    _backoff: dict[str, _Backoff] = field(default_factory=dict)
    _reported: set[tuple[str, str | None, str]] = field(default_factory=set)
    _notices: ModelNotices | None = None  # what was announced about models (read from the audit log at first)

    def _once(self, key: tuple[str, str | None, str], message: str, *args: object, level: int = logging.ERROR) -> None:
        """Log `message` at `level` the first time `key` (what, commit, kind) shows up."""
        if key not in self._reported:
            self._reported.add(key)
            log.log(level, message, *args, extra={"commit": key[1]})

    def _source(self) -> tuple[LoadResult | None, str | None, bool]:
        """The manifests to reconcile: this commit's if valid, else the last good ones."""
        checkout = self.fetch()
        horizon = self.horizon() if self.horizon is not None else None
        result = (
            load(checkout.manifests, default_region=self.default_region, env=self.environment, horizon=horizon)
            if self.environment
            else load(checkout.manifests, default_region=self.default_region, horizon=horizon)
        )
        if result.ok:
            if checkout.commit != (self._last_good[1] if self._last_good else None):
                log.info(
                    "reconciling commit %s", checkout.commit or "(working tree)", extra={"commit": checkout.commit}
                )
            self._last_good = (result, checkout.commit)
            self._refused = None
            if horizon is not None:
                self._announce_models(result, checkout, horizon)
            return result, checkout.commit, False
        if self._refused != (checkout.commit or ""):
            self._refused = checkout.commit or ""
            root = checkout.root or checkout.manifests
            problems = [_relative(d.render(), d.source.file, root) for d in result.diagnostics]
            log.error(
                "commit %s refused: its manifests are invalid (%d problems): %s",
                checkout.commit or "(working tree)",
                len(problems),
                "; ".join(problems[:20]),
                extra={"commit": checkout.commit, "problems": problems[:20]},
            )
            self.audit.write(event="commit-refused", commit=checkout.commit, problems=problems)
            if self.telemetry is not None:
                self.telemetry.error("invalid_commit")
        if horizon is not None:  # after `commit-refused`: a model-retired event says why
            self._announce_models(result, checkout, horizon)
        if self._last_good is None:
            return None, checkout.commit, True
        return self._last_good[0], self._last_good[1], True

    def _announce_models(self, result: LoadResult, checkout: Checkout, horizon: Horizon) -> None:
        """Send the model events this pass's commit calls for (each once per reference and threshold)."""
        if self._notices is None:
            self._notices = ModelNotices.from_records(_model_records(self.audit.path))
        root = checkout.root or checkout.manifests
        for event in model_events(result.manifests, horizon, commit=checkout.commit, root=root):
            if event.kind is ModelEventKind.RETIRED and result.ok:
                continue  # cannot happen (a retired model is an error): announce only what refused the commit
            if not self._notices.due(event):
                continue
            self.audit.write(**event.to_json())  # first: the record is what a restart reads back
            self._notices.sent(event)
            self.notify_models(event)

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
        now = self.clock()
        outcome = apply_changes(
            self.session,
            result,
            options=ApplyOptions(
                prune=self.prune,
                parallelism=self.parallelism,
                self_heal=self.self_heal,
                commit=commit,
                author="genaiops reconcile",
                partial=True,  # one resource's problem never holds back the rest
            ),
            audit=self.audit,
            hooks=QuietHooks(),
            notify=self.notify,
            select=lambda change: self._due(change, now),
            locked=True,  # the loop's leader holds the lease across passes
            interrupted=self.interrupted,
        )
        the_plan = outcome.plan
        problems = tuple(d.render() for d in the_plan.errors)
        for problem in problems:
            self._once((problem, commit, ""), "not applied: %s", problem)
        for warning in (d.render() for d in the_plan.warnings):
            self._once((warning, commit, "warning"), "%s", warning, level=logging.WARNING)
        drift = tuple(c.address for c in the_plan.drifted)
        for address in drift:
            verb = "healing" if self.self_heal else "reporting only (run with --self-heal to correct it)"
            log.warning("%s changed outside genaiops; %s", address, verb, extra={"commit": commit, "resource": address})
        self._record(outcome.result.results, commit, self.clock())
        self._log_rollouts(outcome, commit)
        applied = tuple(r.address for r in outcome.result.results if r.ok)
        failed = outcome.result.failed
        report = PassReport(
            commit=commit,
            ok=not failed and not refused and not problems,
            problems=problems,
            refused_commit=refused,
            applied=applied,
            failed=failed,
            drift=drift,
            healed=tuple(a for a in drift if a in applied),
            waiting=tuple(c.address for c in outcome.skipped if not c.drift),
            rollouts=outcome.rollouts,
            duration_s=self.clock() - started,
        )
        self._report(report, the_plan)
        return report

    def _log_rollouts(self, outcome: ApplyOutcome, commit: str | None) -> None:
        """Rollbacks and pauses are what a person must look at: WARNING, with the reason as fields."""
        for event in outcome.events:
            if event.kind not in (EventKind.ABORTED, EventKind.PAUSED):
                continue
            what = "rolled back" if event.kind is EventKind.ABORTED else "paused"
            log.warning(
                "rollout of %s %s: %s",
                event.name,
                what,
                event.detail,
                extra={
                    "commit": commit,
                    "resource": f"{event.target.value}/{event.endpoint}",
                    "rollout": event.kind,
                    "deployment": event.deployment,
                    "revision": event.revision,
                    "reason": event.detail,
                },
            )

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
            status = (
                "suspended"
                if change.sync is Sync.SUSPENDED
                else "failed"
                if change.address in failed
                else "in_sync"
                if change.sync is Sync.SYNCED or change.address in report.applied
                else "out_of_sync"
            )
            counts[(change.kind, status)] = counts.get((change.kind, status), 0) + 1
        telemetry.set_resources(counts)
        telemetry.set_drift(len(report.drift) - len(report.healed))
        if report.commit:
            telemetry.set_commit(report.commit)
        for rollout in report.rollouts:
            state = rollout.state
            if rollout.target is TargetKind.PROMPT:
                telemetry.set_prompt_rollout(rollout.endpoint, state.deployment, state.phase.value, rollout.weight)
            else:
                telemetry.set_rollout(rollout.endpoint, state.deployment, state.phase.value, rollout.weight)
        telemetry.pass_finished(report.duration_s, report.ok)


def model_events(
    items: tuple[Located, ...] | list[Located], horizon: Horizon, *, commit: str | None, root: Path
) -> list[ModelEvent]:
    """A `model-retiring` event for each place `items` name a model retiring within the horizon, a
    `model-retired` one for each naming a retired model (judged as the loader's lifecycle checks judge them:
    the project's ModelLifecycle rows over the bundled catalogue). Pure: files are named relative to `root`."""
    events: list[ModelEvent] = []
    for judged in outdated_refs(items, horizon):
        ref, lifecycle = judged.ref, judged.lifecycle
        days_left = lifecycle.days_left
        assert days_left is not None  # a retired or retiring model has a last day
        file, line, column = ref.location
        retired = lifecycle.stage is Stage.RETIRED
        events.append(
            ModelEvent(
                kind=ModelEventKind.RETIRED if retired else ModelEventKind.RETIRING,
                manifest=ref.item.label,
                field=format_path(ref.path),
                source=str(Source(_relative_file(file, root), line, column)),
                model=ref.model_id,
                value=ref.value,
                last_day=lifecycle.retires,
                days_left=days_left,
                successor=lifecycle.successor,
                commit=commit,
                threshold=None if retired else threshold_of(days_left),
                used_by=judged.used_by,
                tuned=ref.tuned,
                detail=lifecycle.describe(),
            )
        )
    return events


def _model_records(path: Path | None) -> Iterator[dict[str, object]]:
    """The model-retiring / model-retired records of the audit log at `path` (none when it does not exist,
    cannot be read or is not a regular file, such as /dev/stdout: the events are then announced once more
    after a restart, never lost). A record read back is never announced again: the webhook copy of an event
    whose record was written just before the controller was killed, while the post was still queued (the
    webhook posts asynchronously), is lost."""
    if path is None:
        return
    try:
        if not path.is_file():  # never read a pipe or a terminal: it would block or eat its data
            return
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if '"model-retir' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record
    except OSError:
        return


def _relative(rendered: str, file: str, root: Path) -> str:
    """A diagnostic line with its file named relative to the repository (not the controller's cache)."""
    return rendered.replace(file, _relative_file(file, root), 1)


def _relative_file(file: str, root: Path) -> str:
    """`file` relative to the repository `root`; as it is when it lies outside it."""
    try:
        relative = os.path.relpath(file, root)
    except ValueError:
        return file
    return file if relative.startswith("..") else relative
