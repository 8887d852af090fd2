"""Page data: every response of the dashboard's JSON API (`shapes.py`), gathered through the engine with an
opened target's `Session`, the manifests and the audit log. Nothing here decides or writes anything: the
plan comes from `plan_load` with `lifecycle_health` on the load's horizon (as `genaiops status`), rollouts
from the rollouts facade (as `genaiops rollout status`, its drivers writing to no audit log), experiments
from `engine/experiments.py`, prompts from the prompt store, cost from `controller/cost/report.py` and the
audit log from its file.

`Pages` keeps a snapshot of the overview and the rollouts, rebuilt every `refresh_s` seconds by a
background thread (`snapshot.py`), so the overview of a thousand endpoints is answered from memory; the
other pages are built on request and kept for a refresh interval (cost: a minute), so many browsers
watching one page cost one build.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import TypeVar

from controller.cost.prices import PriceTable, bundled
from controller.dashboard.audit_page import MAX_LIMIT, AuditReader, audit_page, rollout_records
from controller.dashboard.cost_page import CostReading, cost_page
from controller.dashboard.experiment_page import endpoint_experiment, prompt_experiment
from controller.dashboard.overview_page import overview_of
from controller.dashboard.prompt_pages import VersionCache, index_of, prompt_diff, prompt_list, prompt_page
from controller.dashboard.rollout_page import SampleCache, Sampler, Subject, build_page, latest_run, subject_of
from controller.dashboard.rollout_sides import endpoint_sides, prompt_sides
from controller.dashboard.shapes import (
    AuditPage,
    CostPage,
    ExperimentPage,
    Overview,
    PromptDiff,
    PromptList,
    PromptPage,
    RolloutPage,
)
from controller.dashboard.snapshot import Built, Snapshot, SnapshotStore
from controller.diagnostics import Severity
from controller.engine.audit import AuditLog
from controller.engine.observe import regions_of
from controller.engine.planning import canary_endpoints, canary_prompts, lifecycle_health, manifests_of, plan_load
from controller.engine.prompt_rollouts import PromptRolloutDriver
from controller.engine.rollout_driver import RolloutDriver
from controller.engine.rollouts import Rollouts
from controller.engine.session import Session
from controller.errors import NotFoundError, TransientError, UserError
from controller.loader import LoadResult
from controller.model import Endpoint, Manifest, PriceBook, Prompt
from controller.model.suggest import did_you_mean
from controller.prompts.canary import canary_labels
from controller.rollout.events import RolloutStatus, TargetKind

T = TypeVar("T")
KINDS = ("Endpoint", "Prompt")
FIRST_SNAPSHOT_WAIT_S = 60.0


@dataclass
class DashboardSource:
    """What the CLI hands the dashboard: the opened target's session, a way to load the manifests (called
    on every refresh, so a change in git shows), the audit log, and the cost readings (None: no cost page)."""

    session: Session
    load: Callable[[], LoadResult]
    audit_log: Path | None
    cost: CostReading | None = None


@dataclass(frozen=True)
class Context:
    """What a refresh gathered beside the overview: the manifests planned and the rollout statuses."""

    manifests: tuple[Manifest, ...] = ()
    statuses: tuple[RolloutStatus, ...] = ()


@dataclass
class TtlCache:
    """Values kept for `ttl_s` seconds by key (pages built on request)."""

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _values: dict[Hashable, tuple[float, object]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of `key` if computed less than `ttl_s` ago, else `compute()` (kept)."""
        now = self.clock()
        with self._lock:
            found = self._values.get(key)
        if found is not None and found[0] > now:
            return found[1]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if len(self._values) > 1000:
                self._values = {k: v for k, v in self._values.items() if v[0] > now}
            self._values[key] = (now + self.ttl_s, value)
        return value


def reloading(root: Path, read: Callable[[], LoadResult]) -> Callable[[], LoadResult]:
    """`read`, called again only when a file under `root` changed (its size, time or name): a refresh of a
    thousand manifests then skips parsing them."""
    last: list[tuple[object, LoadResult]] = []

    def signature() -> object:
        try:
            files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
            return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
        except OSError:
            return None  # changing under us: read again

    def load() -> LoadResult:
        seen = signature()
        if seen is not None and last and last[0][0] == seen:
            return last[0][1]
        result = read()
        last[:] = [(seen, result)]
        return result

    return load


def rollouts_of(session: Session, manifests: Sequence[Manifest]) -> Rollouts:
    """The rollouts facade over the canaries of `manifests`, read-only (its drivers write no audit log)."""
    endpoints, prompts = canary_endpoints(manifests), canary_prompts(manifests)
    silent = AuditLog(None)
    endpoint_driver = (
        RolloutDriver(ports=session.ports, metrics=session.metrics, clock=session.clock, audit=silent)
        if endpoints and session.metrics is not None
        else None
    )
    prompt_driver = (
        PromptRolloutDriver(store=session.prompts(), metrics=session.prompt_metrics, clock=session.clock, audit=silent)
        if prompts
        else None
    )
    return Rollouts(endpoints, prompts, endpoint_driver, prompt_driver)


def check_kind(kind: str) -> str:
    """`Endpoint` or `Prompt` (any case); UserError otherwise."""
    found = next((k for k in KINDS if k.lower() == kind.lower()), None)
    if found is None:
        raise UserError(f"kind: Endpoint or Prompt (got {kind!r})")
    return found


class Pages:
    """Every page of the dashboard for one target."""

    def __init__(self, source: DashboardSource, *, refresh_s: float = 2.0) -> None:
        self.source = source
        self.session = source.session
        self.audit = AuditReader(source.audit_log)
        self.snapshots = SnapshotStore(self._build, every_s=refresh_s)
        self._pages = TtlCache(refresh_s)
        self._costs = TtlCache(max(60.0, refresh_s))
        self._samples = SampleCache()
        self._versions: VersionCache | None = None
        self._good: LoadResult | None = None

    # -- the snapshot -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Refresh the snapshot in the background from now on."""
        self.snapshots.start()

    def stop(self) -> None:
        """Stop refreshing (event streams end)."""
        self.snapshots.stop()

    def _build(self) -> Built:
        result = self.source.load()
        problems: list[str] = []
        if result.ok:
            self._good = result
        else:
            errors = [d.render() for d in result.diagnostics if d.severity is Severity.ERROR]
            kept = "; showing the last manifests that loaded" if self._good is not None else ""
            problems = [f"the manifests have errors{kept}:", *errors]
        good = self._good
        if good is None:
            overview = Overview(
                target=self.session.name,
                environment="",
                generated_at=self.session.clock(),
                resources=[],
                rollouts=[],
                counts={},
                problems=problems,
            )
            return Built(overview, extra=self.audit.signature())
        manifests = tuple(manifests_of(good))
        plan = lifecycle_health(plan_load(self.session, good, prune=False), good, good.horizon)  # as `status`
        statuses = tuple(rollouts_of(self.session, manifests).statuses())
        strategies: dict[tuple[str, str], str] = {
            (m.kind, m.metadata.name): m.spec.rollout.strategy for m in manifests if isinstance(m, Endpoint | Prompt)
        }
        overview = overview_of(plan, statuses, now=self.session.clock(), problems=problems, strategies=strategies)
        return Built(overview, extra=self.audit.signature(), context=Context(manifests, statuses))

    def _snapshot(self) -> Snapshot:
        snapshot = self.snapshots.current(wait_s=FIRST_SNAPSHOT_WAIT_S)
        if snapshot is None:
            raise TransientError("the dashboard is still reading the target: try again in a moment")
        return snapshot

    def _context(self) -> Context:
        context = self._snapshot().built.context
        return context if isinstance(context, Context) else Context()

    # -- pages --------------------------------------------------------------------------------------------
    def _page(self, key: tuple[str, ...], compute: Callable[[], T]) -> T:
        """A page built at most once per refresh, and again as soon as the snapshot's version changes: the
        page a browser fetches on `changed` is never the one cached before the change."""
        return self._pages.get((self._snapshot().version, *key), compute)

    def overview_body(self) -> bytes:
        """The overview as JSON, as the last refresh built it."""
        return self._snapshot().body

    def overview(self) -> Overview:
        """The overview, as the last refresh built it."""
        return self._snapshot().built.overview

    def rollout(self, *, kind: str, name: str, part: str = "") -> RolloutPage:
        """The rollout page of an Endpoint's deployment or a Prompt's label (`part` may be left out when the
        rollout recorded names it)."""
        kind = check_kind(kind)
        return self._page(("rollout", kind, name, part), lambda: self._rollout(kind, name, part))

    def _rollout(self, kind: str, name: str, part: str) -> RolloutPage:
        context = self._context()
        manifest = self._canary(context.manifests, kind, name)
        mine = [s for s in context.statuses if s.target.value == kind and s.endpoint == name]
        part = part or self._part(manifest, mine)
        status = next((s for s in mine if s.state.deployment == part), None)
        subject = subject_of(manifest, part)
        records, _ = self.audit.records()
        revision = status.state.revision if status is not None else ""
        run = latest_run(rollout_records(records, kind=kind, name=name, part=part), revision)
        if status is None and not run:
            raise NotFoundError(f"no rollout recorded for {subject.identity} (on the target or in the audit log)")
        if isinstance(manifest, Endpoint):
            started = run[0].at if run else self.session.clock()
            stable, canary = endpoint_sides(records, manifest, status=status, started_at=started)
        else:
            index = self.session.prompts().read_index(name)
            stable, canary = prompt_sides(index, part, status=status, run=run)
        return build_page(
            subject,
            status=status,
            events=run,
            stable=stable,
            canary=canary,
            sample=self._sampler(subject),
            cache=self._samples,
            now=self.session.clock(),
        )

    def _canary(self, manifests: Sequence[Manifest], kind: str, name: str) -> Endpoint | Prompt:
        found = canary_endpoints(manifests) if kind == "Endpoint" else canary_prompts(manifests)
        manifest = next((m for m in found if m.metadata.name == name), None)
        if manifest is None:
            known = [m.metadata.name for m in found]
            listed = ", ".join(sorted(known)) or "none"
            raise NotFoundError(f"no canary {kind} named {name!r} (canaries: {listed}){did_you_mean(name, known)}")
        return manifest

    @staticmethod
    def _part(manifest: Endpoint | Prompt, statuses: Sequence[RolloutStatus]) -> str:
        parts = (
            [d.name for d in manifest.spec.deployments] if isinstance(manifest, Endpoint) else canary_labels(manifest)
        )
        recorded = [s.state.deployment for s in statuses]
        if len(recorded) == 1 or len(parts) == 1:
            return recorded[0] if len(recorded) == 1 else parts[0]
        raise UserError(f"name the part: one of {', '.join(parts)}")

    def _sampler(self, subject: Subject) -> Sampler | None:
        metrics, session = subject.metrics, self.session
        if subject.kind is TargetKind.ENDPOINT and session.metrics is not None:
            endpoint_metrics = session.metrics
            return lambda side, start, end: endpoint_metrics.sample(
                region=subject.region,
                endpoint_id=subject.name,
                deployed_model_id=side,
                start=start,
                end=end,
                metrics=metrics,
            )
        if subject.kind is TargetKind.PROMPT and session.prompt_metrics is not None:
            prompt_metrics = session.prompt_metrics
            return lambda side, start, end: prompt_metrics.sample_prompt(
                prompt=subject.name, label=subject.part, version=side, start=start, end=end, metrics=metrics
            )
        return None

    def experiment(self, *, kind: str, name: str, part: str = "") -> ExperimentPage:
        """The report of an experiment (`rollout: {strategy: experiment}`) of an Endpoint or a Prompt label."""
        kind = check_kind(kind)
        return self._page(("experiment", kind, name, part), lambda: self._experiment(kind, name, part))

    def _experiment(self, kind: str, name: str, part: str) -> ExperimentPage:
        manifests = self._context().manifests
        wanted = Endpoint if kind == "Endpoint" else Prompt
        found = [m for m in manifests if isinstance(m, wanted) and m.spec.rollout.strategy == "experiment"]
        manifest = next((m for m in found if m.metadata.name == name), None)
        if manifest is None:
            known = [m.metadata.name for m in found]
            listed = ", ".join(sorted(known)) or "none"
            raise NotFoundError(f"no {kind} experiment named {name!r} (experiments: {listed})")
        now = self.session.clock()
        if isinstance(manifest, Endpoint):
            if self.session.metrics is None:
                raise UserError(f"{self.session.name} has no metrics source for endpoints")
            port = self.session.ports[manifest.spec.region]
            return endpoint_experiment(port, self.session.metrics, manifest, now=now)
        assert isinstance(manifest, Prompt)
        index = self.session.prompts().read_index(name)
        return prompt_experiment(index, self.session.prompt_metrics, manifest, label=part, now=now)

    def _version_cache(self) -> VersionCache:
        if self._versions is None:
            self._versions = VersionCache(self.session.prompts())
        return self._versions

    def prompts(self) -> PromptList:
        """Every prompt in the target's store."""
        return self._page(("prompts",), lambda: prompt_list(self.session.prompts()))

    def prompt(self, *, name: str) -> PromptPage:
        """One prompt's versions, labels and history."""
        store = self.session.prompts()
        return self._page(("prompt", name), lambda: prompt_page(index_of(store, name), self._version_cache()))

    def prompt_diff(self, *, name: str, a: str, b: str) -> PromptDiff:
        """The template diff between two versions of a prompt."""
        index = index_of(self.session.prompts(), name)
        return prompt_diff(index, self._version_cache(), a=a, b=b)

    def cost(self, *, since: str = "30d", by: str = "endpoint") -> CostPage:
        """Cost and usage over the last `since`, grouped `by` (kept for a minute)."""
        reading = self.source.cost
        if reading is None:
            raise UserError(f"{self.session.name}: the dashboard was started without cost readings")
        return self._costs.get(("cost", since, by), lambda: self._cost(reading, since, by))

    def _cost(self, reading: CostReading, since: str, by: str) -> CostPage:
        manifests = self._context().manifests
        regions = {*regions_of(manifests), *self.session.ports}
        return cost_page(reading, self._prices(manifests), since=since, by=by, regions=regions, now=time.time())

    @staticmethod
    def _prices(manifests: Sequence[Manifest]) -> PriceTable:
        books = (m for m in manifests if isinstance(m, PriceBook))
        return reduce(lambda table, book: table.with_book(book), books, bundled())

    def audit_log(self, *, text: str = "", event: str = "", resource: str = "", limit: int = 200) -> AuditPage:
        """The audit log, newest first, filtered."""
        if not 1 <= limit <= MAX_LIMIT:
            raise UserError(f"limit: from 1 to {MAX_LIMIT} (got {limit})")
        records, skipped = self.audit.records()
        return audit_page(records, skipped=skipped, text=text, event=event, resource=resource, limit=limit)


__all__ = ["DashboardSource", "Pages", "TtlCache", "check_kind", "reloading", "rollouts_of"]
