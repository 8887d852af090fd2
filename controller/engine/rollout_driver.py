"""The rollout driver: applies the state machine's decisions to live endpoints, one step per pass.

Each pass reads the endpoint, measures the canary when analysis is due, asks the pure `next_transition`
what to do, and persists the answer in ONE UpdateEndpoint (with etag) that moves the traffic and rewrites
the rollout labels together. Only then, for a promotion or a rollback, is the deployed model that no longer
carries traffic undeployed. A driver killed at any moment resumes from the endpoint's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import assert_never

from controller.engine.audit import AuditLog
from controller.engine.retry import DEFAULT_RETRY, RetryPolicy
from controller.engine.steps import check_split
from controller.errors import ConflictError, GenaiopsError, NotFoundError
from controller.model import Endpoint
from controller.observed import SUSPEND_LABEL, ObservedEndpoint
from controller.ports import MetricsPort, VertexPort
from controller.rollout.events import EventKind, RolloutEvent, RolloutStatus, TargetKind
from controller.rollout.machine import (
    Move,
    Transition,
    abort,
    analysis_window,
    current_window,
    next_transition,
)
from controller.rollout.machine import pause as pause_transition
from controller.rollout.machine import promote as promote_transition
from controller.rollout.machine import resume as resume_transition
from controller.rollout.progress import event_of, status_of
from controller.rollout.reason import Reason
from controller.rollout.state import Phase, RolloutState, from_labels, to_labels, without_rollout
from controller.rollout.strategy import CompiledStep, compile_steps, split_at
from controller.rollout.verdicts import Measurement, judge


def _pair_share(live: ObservedEndpoint, state: RolloutState) -> tuple[int, int]:
    canary = live.traffic_split.get(state.canary_id, 0)
    stable = live.traffic_split.get(state.stable_id, 0)
    share = canary + stable
    return share, (round(100 * canary / share) if share else 0)


def event_kind(move: Move) -> EventKind | None:
    """The event a move makes (a hold makes none)."""
    match move:
        case Move.HOLD:
            return None
        case Move.STEP:
            return EventKind.STEP
        case Move.PROMOTE:
            return EventKind.PROMOTED
        case Move.ROLLBACK:
            return EventKind.ABORTED
        case Move.PAUSE:
            return EventKind.PAUSED
        case Move.RESUME:
            return EventKind.RESUMED
        case _:
            assert_never(move)


class RolloutDriver:
    """Advances canary rollouts through the ports."""

    def __init__(
        self,
        *,
        ports: Mapping[str, VertexPort],
        metrics: MetricsPort,
        clock: Callable[[], float],
        audit: AuditLog,
        notify: Callable[[RolloutEvent], None] = lambda _: None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.ports = ports
        self.metrics = metrics
        self.clock = clock
        self.audit = audit
        self.notify = notify
        self.retry = retry

    # -- reading ------------------------------------------------------------------------------------
    def _live(self, endpoint: Endpoint) -> ObservedEndpoint | None:
        port = self.ports[endpoint.spec.region]
        return self.retry.call(lambda: port.get_endpoint(endpoint.metadata.name))

    def status(self, endpoint: Endpoint) -> RolloutStatus | None:
        """Where the rollout recorded on the endpoint stands, with the canary measured now over the current
        step's last interval (`current_window`, the same `_measure` as a pass). Read-only: nothing is
        persisted or advanced, so it works from any process, beside a running apply or without one."""
        live = self._live(endpoint)
        state = from_labels(live.labels) if live is not None else None
        if live is None or state is None:
            return None
        steps = compile_steps(endpoint.spec.rollout)
        window = current_window(state, steps, self.clock())
        measurements = self._measure(endpoint, state, steps[state.step], window) if window is not None else ()
        return self._status(endpoint, live, state, steps, (), measurements=measurements, window=window)

    def statuses(self, endpoints: Sequence[Endpoint]) -> list[RolloutStatus]:
        """`status` of every endpoint that has a rollout recorded."""
        return [s for e in endpoints if (s := self.status(e)) is not None]

    def watch(
        self, endpoints: Sequence[Endpoint], *, every_s: float, sleep: Callable[[float], None]
    ) -> Iterator[list[RolloutStatus]]:
        """`statuses` every `every_s` seconds (waited with `sleep`, the caller's, as the clock is), until every
        rollout has finished or waits for a person (that last snapshot included)."""
        while True:
            statuses = self.statuses(endpoints)
            yield statuses
            if all(s.finished or s.waiting_for_human for s in statuses):
                return
            sleep(every_s)

    def _measure(
        self, endpoint: Endpoint, state: RolloutState, step: CompiledStep, window: tuple[float, float]
    ) -> tuple[Measurement, ...]:
        assert step.analysis is not None
        analysis = step.analysis
        start, end = window
        common = {"region": endpoint.spec.region, "endpoint_id": endpoint.metadata.name, "start": start, "end": end}
        canary = self.metrics.sample(deployed_model_id=state.canary_id, metrics=analysis.metrics, **common)  # type: ignore[arg-type]
        relative = analysis.compares_with_stable  # maxIncrease, maxDecrease or a judge
        stable = (
            self.metrics.sample(deployed_model_id=state.stable_id, metrics=analysis.metrics, **common)  # type: ignore[arg-type]
            if relative
            else None
        )
        return tuple(
            judge(m, canary=canary, stable=stable, min_requests=analysis.min_requests, window_s=end - start)
            for m in analysis.metrics
        )

    def announce_start(
        self, endpoint: Endpoint, *, deployment: str, revision: str, weight: int, share: int
    ) -> RolloutEvent:
        """Record that apply started a rollout (the executor's StartRollout moved the first weight)."""
        steps = compile_steps(endpoint.spec.rollout)
        state = RolloutState(deployment, revision, Phase.PROGRESSING)
        detail = f"canary gets {weight}% of the {share}% share"
        event = self._event(EventKind.STARTED, endpoint, state, steps, weight, detail)
        self.audit.write(**event.to_json())
        self.notify(event)
        return event

    # -- passes -------------------------------------------------------------------------------------
    def advance(self, endpoint: Endpoint) -> RolloutStatus | None:
        """One pass: measure if due, decide, persist. None when the endpoint has no rollout."""
        live = self._live(endpoint)
        state = from_labels(live.labels) if live is not None else None
        if live is None or state is None:
            return None
        steps = compile_steps(endpoint.spec.rollout)
        suspended = endpoint.spec.suspend or live.labels.get(SUSPEND_LABEL) == "true"
        if state.phase.terminal or not steps or suspended:
            return self._status(endpoint, live, state, steps, ())
        now = self.clock()
        window = analysis_window(state, steps, now)
        measurements = self._measure(endpoint, state, steps[state.step], window) if window is not None else None
        transition = next_transition(state, steps, live, measurements, now)
        return self._carry_out(endpoint, live, state, steps, transition)

    def act(self, endpoint: Endpoint, action: str, *, full: bool = False, attempts: int = 3) -> RolloutStatus | None:
        """A human's command: promote, abort, pause, resume or retry. A concurrent write (stale etag) is
        re-read and retried; after `attempts` it raises ConflictError instead of being dropped silently."""
        for attempt in range(attempts):
            live = self._live(endpoint)
            state = from_labels(live.labels) if live is not None else None
            if live is None or state is None:
                raise NotFoundError(f"endpoint {endpoint.metadata.name} has no rollout")
            steps = compile_steps(endpoint.spec.rollout)
            now = self.clock()
            if action == "retry":
                return self._retry(endpoint, live, state, steps)
            transitions: dict[str, Callable[[], Transition]] = {
                "promote": lambda: promote_transition(state, steps, now, full=full),  # noqa: B023
                "abort": lambda: abort(state),  # noqa: B023
                "pause": lambda: pause_transition(state),  # noqa: B023
                "resume": lambda: resume_transition(state, now),  # noqa: B023
            }
            try:
                return self._carry_out(endpoint, live, state, steps, transitions[action](), raise_conflict=True)
            except ConflictError:
                if attempt + 1 == attempts:
                    raise
        return None

    def _retry(
        self, endpoint: Endpoint, live: ObservedEndpoint, state: RolloutState, steps: Sequence[CompiledStep]
    ) -> RolloutStatus:
        if state.phase is not Phase.DEGRADED:
            raise ConflictError(f"the rollout on {endpoint.metadata.name} is {state.phase.value}, not rolled back")
        self._update(endpoint, live, dict(live.traffic_split), without_rollout(live.labels))
        detail = "failed revision cleared; the next apply retries it"
        event = self._event(EventKind.RETRY, endpoint, state, steps, None, detail)
        self.audit.write(**event.to_json())
        self.notify(event)
        return self._status(endpoint, live, state.evolve(failed_revision=""), steps, (event,))

    def _update(
        self, endpoint: Endpoint, live: ObservedEndpoint, split: dict[str, int], labels: dict[str, str]
    ) -> None:
        check_split(live, split)
        port = self.ports[endpoint.spec.region]
        self.retry.call(
            lambda: port.update_endpoint(
                endpoint_id=live.endpoint_id,
                etag=live.etag,
                traffic_split=split,
                labels=labels,
                display_name=live.display_name,
                description=live.description,
            )
        )

    def _carry_out(
        self,
        endpoint: Endpoint,
        live: ObservedEndpoint,
        state: RolloutState,
        steps: Sequence[CompiledStep],
        transition: Transition,
        *,
        raise_conflict: bool = False,
    ) -> RolloutStatus:
        record = transition.state  # the machine's record, final for a promotion or a rollback
        split = dict(live.traffic_split)
        if transition.weight is not None:
            share, _ = _pair_share(live, state)
            split = split_at(
                live.traffic_split,
                stable=state.stable_id,
                canary=state.canary_id,
                share=share,
                weight=transition.weight,
            )
        labels = {**without_rollout(live.labels), **to_labels(record)}
        events: list[RolloutEvent] = []
        if transition.measurements:
            detail = "; ".join(m.describe() for m in transition.measurements)
            _, weight_now = _pair_share(live, state)
            events.append(
                self._event(EventKind.MEASURED, endpoint, state, steps, weight_now, detail, transition.measurements)
            )
        if split != dict(live.traffic_split) or labels != dict(live.labels):
            try:
                self._update(endpoint, live, {k: v for k, v in split.items() if v > 0}, labels)
            except ConflictError as err:  # someone else wrote first: the next pass re-reads
                self.audit.write(event="rollout-conflict", endpoint=endpoint.metadata.name, error=str(err))
                if raise_conflict:
                    raise
                return self._status(endpoint, live, state, steps, ())
        kind = event_kind(transition.move)
        if kind is not None:
            events.append(self._moved(kind, endpoint, record, steps, transition.weight, transition.reason))
        if transition.move in (Move.PROMOTE, Move.ROLLBACK):
            leaving = state.stable_id if transition.move is Move.PROMOTE else state.canary_id
            self._undeploy(endpoint, leaving)
        for event in events:
            self.audit.write(**event.to_json())
            if event.kind is not EventKind.MEASURED:  # webhooks get state changes, not every measurement
                self.notify(event)
        return self._status(endpoint, live, record, steps, tuple(events), split=split)

    def _undeploy(self, endpoint: Endpoint, deployed_model_id: str) -> None:
        port = self.ports[endpoint.spec.region]
        try:
            self.retry.call(
                lambda: port.undeploy_model(endpoint_id=endpoint.metadata.name, deployed_model_id=deployed_model_id)
            )
        except NotFoundError:
            pass
        except GenaiopsError as err:  # left at 0% traffic; the next apply's plan undeploys it
            self.audit.write(event="rollout-undeploy-failed", endpoint=endpoint.metadata.name, error=str(err))

    def _moved(
        self,
        kind: EventKind,
        endpoint: Endpoint,
        state: RolloutState,
        steps: Sequence[CompiledStep],
        weight: int | None,
        reason: Reason | None,
    ) -> RolloutEvent:
        detail = reason.describe() if reason is not None else ""
        return self._event(kind, endpoint, state, steps, weight, detail, reason=reason)

    def _event(
        self,
        kind: EventKind,
        endpoint: Endpoint,
        state: RolloutState,
        steps: Sequence[CompiledStep],
        weight: int | None,
        detail: str,
        measurements: tuple[Measurement, ...] = (),
        *,
        reason: Reason | None = None,
    ) -> RolloutEvent:
        return event_of(
            kind,
            target=TargetKind.ENDPOINT,
            name=endpoint.metadata.name,
            state=state,
            steps=steps,
            at=self.clock(),
            weight=weight,
            detail=detail,
            measurements=measurements,
            reason=reason,
        )

    def _status(
        self,
        endpoint: Endpoint,
        live: ObservedEndpoint,
        state: RolloutState,
        steps: Sequence[CompiledStep],
        events: tuple[RolloutEvent, ...],
        *,
        split: Mapping[str, int] | None = None,
        measurements: tuple[Measurement, ...] = (),
        window: tuple[float, float] | None = None,
    ) -> RolloutStatus:
        traffic = split if split is not None else live.traffic_split
        canary = traffic.get(state.canary_id, 0) if state.canary_id else 0
        stable = traffic.get(state.stable_id, 0) if state.stable_id else 0
        share = canary + stable
        weight = round(100 * canary / share) if share else 0
        return status_of(
            target=TargetKind.ENDPOINT,
            name=endpoint.metadata.name,
            state=state,
            steps=steps,
            weight=weight,
            share=share,
            events=events,
            measurements=measurements,
            window=window,
        )
