"""The executor: carries a Plan out through the ports.

Independent resources run in parallel (`parallelism`), the operations of one resource strictly in order,
in three phases: models first (new versions must exist before endpoints deploy them), then endpoints and
prompts, then model deletions (a model is deleted only after endpoints stop serving it); an endpoint that
deploys a model whose change failed is skipped. Transient API errors are retried with exponential backoff
and jitter (`RetryPolicy`); a conflict (stale etag, traffic moved by someone else) re-observes and re-plans
that one resource; a permanent error stops that resource and the rest go on. Every operation leaves one
line in the audit log; rollout records and prompt provenance are stamped with the injected clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from controller.engine.audit import AuditLog
from controller.engine.retry import DEFAULT_RETRY, RetryPolicy
from controller.engine.steps import Context, run_operation
from controller.errors import ConflictError, GenaiopsError, PermanentError
from controller.plans.operations import DeployModel, Operation, describe
from controller.plans.plan import Action, Plan, ResourceChange
from controller.ports import AlertsPort, TuningPort, VertexPort
from controller.prompts.store import PromptStore

MAX_REPLANS = 3


@dataclass(frozen=True)
class ResourceResult:
    """How one resource change ended."""

    address: str
    action: Action
    ok: bool
    error: str = ""
    operations: int = 0


@dataclass(frozen=True)
class ApplyResult:
    """Every resource's outcome."""

    results: tuple[ResourceResult, ...]

    @property
    def ok(self) -> bool:
        """True when every resource succeeded."""
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> tuple[ResourceResult, ...]:
        """The resources that did not finish."""
        return tuple(r for r in self.results if not r.ok)


@dataclass
class _Shared:
    lock: threading.Lock = field(default_factory=threading.Lock)
    new_versions: dict[tuple[str, str], str] = field(default_factory=dict)
    failed_models: set[tuple[str, str]] = field(default_factory=set)
    new_channels: dict[str, str] = field(default_factory=dict)  # notification channels created in this apply


def _phase(change: ResourceChange) -> int:
    if change.kind == "NotificationChannel":  # created before the policies that notify it, deleted after
        return 2 if change.action is Action.DELETE else 0
    if change.kind == "Model":
        return 2 if change.action is Action.DELETE else 0
    return 1


class Executor:
    """Applies plans; one instance per apply."""

    def __init__(
        self,
        *,
        ports: Mapping[str, VertexPort],
        audit: AuditLog,
        parallelism: int = 10,
        retry: RetryPolicy = DEFAULT_RETRY,
        replan: Callable[[ResourceChange], ResourceChange | None] | None = None,
        on_event: Callable[[str], None] | None = None,
        interrupted: Callable[[], str | None] = lambda: None,
        commit: str | None = None,
        clock: Callable[[], float] = time.time,
        prompts: PromptStore | None = None,
        author: str = "",
        tuning: TuningPort | None = None,
        report_dir: Path | None = None,
        alerts: AlertsPort | None = None,
    ) -> None:
        self.ports = ports
        self.audit = audit
        self.parallelism = max(1, parallelism)
        self.retry = retry
        self.replan = replan
        self.on_event = on_event or (lambda _: None)
        self.interrupted = interrupted  # e.g. "the apply lock was lost": stop before the next operation
        self.commit = commit
        self.clock = clock  # the loop's one clock: rollout records and prompt provenance use it
        self.prompts = prompts
        self.author = author
        self.tuning = tuning
        self.report_dir = report_dir
        self.alerts = alerts

    def apply(self, plan: Plan) -> ApplyResult:
        """Carry out every actionable change; returns per-resource results (never raises for API errors)."""
        shared = _Shared()
        results: list[ResourceResult] = []
        for phase in (0, 1, 2):
            batch = [c for c in plan.actionable if _phase(c) == phase]
            if not batch:
                continue
            with ThreadPoolExecutor(max_workers=min(self.parallelism, len(batch))) as pool:
                results += list(pool.map(lambda c: self._run_resource(c, shared), batch))
        return ApplyResult(tuple(results))

    def _blocked_by(self, change: ResourceChange, shared: _Shared) -> str | None:
        with shared.lock:
            for op in change.operations:
                if isinstance(op, DeployModel) and (change.region, op.spec.model_id) in shared.failed_models:
                    return f"Model/{change.region}/{op.spec.model_id} failed"
        return None

    def _run_resource(self, change: ResourceChange, shared: _Shared) -> ResourceResult:
        blocked = self._blocked_by(change, shared)
        if blocked is not None:
            self.audit.write(address=change.address, op="(skipped)", status="skipped", error=blocked)
            self.on_event(f"{change.address}: skipped because {blocked}")
            return ResourceResult(change.address, change.action, False, f"skipped: {blocked}")
        done = 0
        current = change
        for round_ in range(MAX_REPLANS + 1):
            ctx = Context(
                region=current.region,
                ports=self.ports,
                new_versions=shared.new_versions,
                lock=shared.lock,
                now=self.clock,
                commit=self.commit,
                prompts=self.prompts,
                author=self.author,
                tuning=self.tuning,
                report_dir=self.report_dir,
                alerts=self.alerts,
                new_channels=shared.new_channels,
            )
            try:
                for op in current.operations:
                    reason = self.interrupted()
                    if reason is not None:
                        raise PermanentError(f"stopped before {describe(op)}: {reason}")
                    self._run_with_retries(current, op, ctx)
                    done += 1
                return ResourceResult(change.address, change.action, True, operations=done)
            except ConflictError as err:
                if self.replan is None or round_ == MAX_REPLANS:
                    return self._fail(change, shared, f"conflict: {err}", done)
                self.on_event(f"{change.address}: {err}; re-observing and re-planning")
                fresh = self.replan(current)
                if fresh is None or fresh.action is Action.NOOP:
                    return ResourceResult(change.address, change.action, True, operations=done)
                current = fresh
            except GenaiopsError as err:
                return self._fail(change, shared, str(err), done)
        return self._fail(change, shared, "gave up after re-planning", done)

    def _fail(self, change: ResourceChange, shared: _Shared, error: str, done: int) -> ResourceResult:
        if change.kind == "Model":
            with shared.lock:
                shared.failed_models.add((change.region, change.name))
        self.on_event(f"{change.address}: FAILED: {error}")
        return ResourceResult(change.address, change.action, False, error, done)

    def _run_with_retries(self, change: ResourceChange, op: Operation, ctx: Context) -> None:
        started = time.monotonic()
        attempts = 0
        try:
            for attempt in self.retry.retrying():
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    result = run_operation(op, ctx, retrying=attempts > 1)
        except GenaiopsError as err:
            self._audit(change, op, "error", attempts, started, error=str(err))
            raise
        except Exception as err:  # a bug or an unexpected vendor error: still one resource, still audited
            self._audit(change, op, "error", attempts, started, error=f"{type(err).__name__}: {err}")
            raise PermanentError(f"{describe(op)}: unexpected {type(err).__name__}: {err}") from err
        self._audit(change, op, "ok", attempts, started, result=result)
        self.on_event(f"{change.address}: {describe(op)}: done")

    def _audit(
        self, change: ResourceChange, op: Operation, status: str, attempts: int, started: float, **extra: object
    ) -> None:
        self.audit.write(
            address=change.address,
            action=change.action.value,
            op=type(op).__name__,
            detail=describe(op),
            status=status,
            attempts=attempts,
            commit=self.commit,
            duration_ms=round((time.monotonic() - started) * 1000),
            **{k: v for k, v in extra.items() if v not in (None, "")},
        )


__all__ = ["ApplyResult", "Executor", "ResourceResult", "RetryPolicy"]
