"""The prompt rollout driver: applies the rollout machine's decisions to prompt labels, one step per pass.

The same pure machine (`controller.rollout.machine`) that drives endpoint canaries drives a prompt label's
canary; only the record and the measurements differ. The record is the label's `LabelRollout` in the
prompt's index (`controller.prompts.index`), and every pass persists the machine's answer in ONE
compare-and-swap of that index that first checks the record is still the one this pass read: two
controllers that decided from the same record never both move it (the second finds it changed and does
nothing this pass), and a human's command that raced a pass is re-read and retried.

    advance:  read index -> measure (the runtime's metrics of the candidate and the stable versions, when
              analysis is due) -> next_transition -> one CAS: new weight and state; for a promotion the
              label moves to the candidate and the record is cleared; for a rollback the weight goes to 0
              and the record keeps the failed version and the reason (the next apply does not retry it)

Kill points: a pass killed before its CAS left nothing (the rerun measures again: analysis is never
skipped); after it, the record is the new state. Promotion (label move + clearing the record) and rollback
(weight 0 + failed version) are each one write, so no state exists in which the label has moved but the
candidate still gets a share, or the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import assert_never

from controller.engine.audit import AuditLog
from controller.engine.experiments import prompt_report
from controller.engine.rollout_driver import event_kind
from controller.errors import ConflictError, NotFoundError
from controller.model import Prompt
from controller.observed import Sample
from controller.ports import PromptMetricsPort
from controller.prompts.canary import Published, canary_labels, prompt_steps
from controller.prompts.index import LabelRollout, PromptIndex, with_labels, without_rollout
from controller.prompts.store import PromptStore
from controller.prompts.version import Provenance
from controller.rollout.events import EventKind, RolloutEvent, RolloutStatus, TargetKind
from controller.rollout.experiment import DecisionKind
from controller.rollout.machine import (
    Move,
    Transition,
    abort,
    analysis_window,
    conclude,
    current_window,
    hold_for,
    next_transition,
)
from controller.rollout.machine import pause as pause_transition
from controller.rollout.machine import promote as promote_transition
from controller.rollout.machine import resume as resume_transition
from controller.rollout.progress import event_of, status_of
from controller.rollout.reason import Kind, Reason
from controller.rollout.state import Phase, RolloutState
from controller.rollout.strategy import CompiledStep
from controller.rollout.verdicts import Measurement, judge


class RecordMovedError(ConflictError):
    """The label's rollout record changed since this pass read it (another controller or a human)."""


class PromptRolloutDriver:
    """Advances prompt label canaries through the prompt store and the runtime's metrics."""

    def __init__(
        self,
        *,
        store: PromptStore,
        metrics: PromptMetricsPort | None,
        clock: Callable[[], float],
        audit: AuditLog,
        notify: Callable[[RolloutEvent], None] = lambda _: None,
        author: str = "",
        commit: str = "",
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.audit = audit
        self.notify = notify
        self.author = author
        self.commit = commit

    # -- reading ------------------------------------------------------------------------------------
    def _read(self, prompt: Prompt, label: str) -> tuple[PromptIndex, LabelRollout] | None:
        index = self.store.read_index(prompt.metadata.name)
        record = index.rollouts.get(label) if index is not None else None
        return None if index is None or record is None else (index, record)

    def recorded_labels(self, prompt: Prompt) -> list[str]:
        """The canary labels of `prompt` that have a rollout recorded (one index read, nothing measured)."""
        index = self.store.read_index(prompt.metadata.name)
        return [lb for lb in canary_labels(prompt) if index is not None and lb in index.rollouts]

    def status(self, prompt: Prompt, label: str) -> RolloutStatus | None:
        """Where the label's rollout stands, the candidate measured now over the current step's last
        interval (read-only, as `RolloutDriver.status`)."""
        found = self._read(prompt, label)
        if found is None:
            return None
        _, record = found
        steps = prompt_steps(prompt.spec.rollout)
        window = current_window(record.state, steps, self.clock())
        measured = self._measure(prompt, record.state, steps[record.state.step], window) if window else ()
        return self._status(prompt, record, steps, (), measurements=measured, window=window)

    def statuses(self, prompts: Sequence[Prompt]) -> list[RolloutStatus]:
        """`status` of every canary label that has a rollout recorded."""
        return [s for p in prompts for label in canary_labels(p) if (s := self.status(p, label)) is not None]

    def watch(
        self, prompts: Sequence[Prompt], *, every_s: float, sleep: Callable[[float], None]
    ) -> Iterator[list[RolloutStatus]]:
        """`statuses` every `every_s` seconds until every rollout finished or waits for a person."""
        while True:
            statuses = self.statuses(prompts)
            yield statuses
            if all(s.finished or s.waiting_for_human for s in statuses):
                return
            sleep(every_s)

    def _measure(
        self, prompt: Prompt, state: RolloutState, step: CompiledStep, window: tuple[float, float]
    ) -> tuple[Measurement, ...]:
        assert step.analysis is not None
        analysis = step.analysis
        start, end = window
        if self.metrics is None:
            failed = "this target has no metrics source for the runtime's prompt metrics"
            canary = stable = Sample(error=failed)
        else:
            common = {"prompt": prompt.metadata.name, "label": state.deployment, "start": start, "end": end}
            canary = self.metrics.sample_prompt(version=state.canary_id, metrics=analysis.metrics, **common)  # type: ignore[arg-type]
            stable = self.metrics.sample_prompt(version=state.stable_id, metrics=analysis.metrics, **common)  # type: ignore[arg-type]
        return tuple(
            judge(m, canary=canary, stable=stable, min_requests=analysis.min_requests, window_s=end - start)
            for m in analysis.metrics
        )

    # -- passes -------------------------------------------------------------------------------------
    def advance(self, prompt: Prompt) -> list[RolloutStatus]:
        """One pass over every canary label of `prompt`: measure if due, decide, persist."""
        statuses = []
        for label in canary_labels(prompt):
            status = self.advance_label(prompt, label)
            if status is not None:
                statuses.append(status)
        return statuses

    def advance_label(self, prompt: Prompt, label: str) -> RolloutStatus | None:
        """One pass over one label; None when it has no rollout recorded."""
        found = self._read(prompt, label)
        if found is None:
            return None
        index, record = found
        steps = prompt_steps(prompt.spec.rollout)
        if record.state.phase.terminal or not steps or prompt.spec.suspend:
            return self._status(prompt, record, steps, ())
        if index.labels.get(label) != record.stable:  # moved by hand: the runtime routes nothing to the candidate
            moved = hold_for(record.state, Reason(Kind.LABEL_MOVED, deployed_model=record.stable))
            return self._carried_or_conflict(prompt, record, steps, moved)
        now = self.clock()
        window = analysis_window(record.state, steps, now)
        measured = self._measure(prompt, record.state, steps[record.state.step], window) if window else None
        transition = next_transition(record.state, steps, Published(index), measured, now)
        if prompt.spec.rollout.strategy == "experiment" and transition.move is Move.PROMOTE:
            transition = self._experiment_end(prompt, record, steps, now, transition)
        return self._carried_or_conflict(prompt, record, steps, transition)

    def _carried_or_conflict(
        self, prompt: Prompt, record: LabelRollout, steps: Sequence[CompiledStep], transition: Transition
    ) -> RolloutStatus:
        try:
            return self._carry_out(prompt, record, steps, transition)
        except RecordMovedError as err:  # someone else wrote first: the next pass re-reads
            audit = {"prompt": prompt.metadata.name, "label": record.label, "error": str(err)}
            self.audit.write(event="rollout-conflict", **audit)
            return self._status(prompt, record, steps, ())

    def _experiment_end(
        self,
        prompt: Prompt,
        record: LabelRollout,
        steps: Sequence[CompiledStep],
        now: float,
        machine: Transition,
    ) -> Transition:
        """The machine would promote an experiment whose duration is over: the report decides instead."""
        if machine.reason is not None and machine.reason.kind is not Kind.ALL_STEPS_PASSED:
            return machine  # not the end of the duration (the candidate disappeared, say): as the machine says
        report, decided = prompt_report(self.metrics, prompt, record, now=now)
        match decided.kind:
            case DecisionKind.PROMOTE if decided.variant == record.candidate:
                transition = conclude(record.state, steps, now, promote=True, reason=Reason(Kind.EXPERIMENT_WON))
            case DecisionKind.KEEP:
                transition = conclude(record.state, steps, now, promote=False, reason=Reason(Kind.EXPERIMENT_LOST))
            case DecisionKind.KEEP_RUNNING:
                return Transition(Move.HOLD, record.state)
            case _:
                kind = Kind.SAMPLE_RATIO_MISMATCH if not report.trustworthy else Kind.EXPERIMENT_UNDECIDED
                transition = conclude(record.state, steps, now, promote=None, reason=Reason(kind))
        self.audit.write(
            event="experiment-concluded",
            prompt=prompt.metadata.name,
            label=record.label,
            conclusion=report.conclusion.value,
            winner=report.winner,
            decision=decided.kind.value,
            requests=dict(report.requests),
        )
        return transition

    def act(self, prompt: Prompt, label: str, action: str, *, full: bool = False, attempts: int = 3) -> RolloutStatus:
        """A human's command: promote, abort, pause, resume or retry; re-read and retried on a race, then
        ConflictError rather than dropped."""
        for attempt in range(attempts):
            found = self._read(prompt, label)
            if found is None:
                raise NotFoundError(f"label {label!r} of prompt {prompt.metadata.name!r} has no rollout")
            _, record = found
            steps = prompt_steps(prompt.spec.rollout)
            now = self.clock()
            try:
                if action == "retry":
                    return self._retry(prompt, record, steps)
                transitions: dict[str, Callable[[], Transition]] = {
                    "promote": lambda: promote_transition(record.state, steps, now, full=full),  # noqa: B023
                    "abort": lambda: abort(record.state),  # noqa: B023
                    "pause": lambda: pause_transition(record.state),  # noqa: B023
                    "resume": lambda: resume_transition(record.state, now),  # noqa: B023
                }
                return self._carry_out(prompt, record, steps, transitions[action]())
            except RecordMovedError:
                if attempt + 1 == attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry(self, prompt: Prompt, record: LabelRollout, steps: Sequence[CompiledStep]) -> RolloutStatus:
        if record.state.phase is not Phase.DEGRADED:
            raise ConflictError(
                f"the rollout of prompt {prompt.metadata.name}[{record.label}] is {record.state.phase.value}, "
                "not rolled back"
            )
        self._swap(prompt, record, lambda index: without_rollout(index, record.label))
        detail = "failed version cleared; the next apply retries it"
        event = self._event(EventKind.RETRY, prompt, record.state, steps, None, detail)
        self._emit((event,))
        cleared = replace(record, state=record.state.evolve(failed_revision=""))
        return self._status(prompt, cleared, steps, (event,))

    def _provenance(self) -> Provenance:
        created = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Provenance(created=created, commit=self.commit, author=self.author)

    def _swap(self, prompt: Prompt, read: LabelRollout, change: Callable[[PromptIndex], PromptIndex]) -> PromptIndex:
        """One compare-and-swap of the index: `change` applies only if the label's record is still `read`."""

        def guarded(index: PromptIndex | None) -> PromptIndex:
            if index is None or index.rollouts.get(read.label) != read:
                raise RecordMovedError(
                    f"the rollout of prompt {prompt.metadata.name}[{read.label}] changed while this pass decided"
                )
            return change(index)

        return self.store.update_index(prompt.metadata.name, guarded)

    def _persist(self, prompt: Prompt, record: LabelRollout, transition: Transition) -> LabelRollout | None:
        """Write the transition; the new record (None once promoted: the record is cleared)."""
        label, name = record.label, prompt.metadata.name
        match transition.move:
            case Move.PROMOTE:

                def promoted(index: PromptIndex) -> PromptIndex:
                    moved = with_labels(index, name, {label: record.candidate}, self._provenance(), applied=True)
                    return without_rollout(moved, label)

                self._swap(prompt, record, promoted)
                return None
            case Move.ROLLBACK:
                after = LabelRollout(transition.state, 0)
            case Move.STEP:
                after = LabelRollout(transition.state, transition.weight or record.weight)
            case Move.HOLD | Move.PAUSE | Move.RESUME:
                after = LabelRollout(transition.state, record.weight)
            case _:
                assert_never(transition.move)
        if after != record:
            self._swap(prompt, record, lambda index: replace(index, rollouts={**index.rollouts, label: after}))
        return after

    def _carry_out(
        self, prompt: Prompt, record: LabelRollout, steps: Sequence[CompiledStep], transition: Transition
    ) -> RolloutStatus:
        events: list[RolloutEvent] = []
        if transition.measurements:
            detail = "; ".join(m.describe() for m in transition.measurements)
            events.append(
                self._event(
                    EventKind.MEASURED, prompt, record.state, steps, record.weight, detail, transition.measurements
                )
            )
        after = self._persist(prompt, record, transition)
        kind = event_kind(transition.move)
        if kind is not None:
            weight = 100 if transition.move is Move.PROMOTE else transition.weight
            detail = transition.reason.describe() if transition.reason is not None else ""
            events.append(self._event(kind, prompt, transition.state, steps, weight, detail, reason=transition.reason))
        self._emit(events)
        shown = after if after is not None else LabelRollout(transition.state, 100)
        return self._status(prompt, shown, steps, tuple(events))

    def announce_start(self, prompt: Prompt, record: LabelRollout) -> RolloutEvent:
        """Record that apply started a label's canary (the executor's StartPromptRollout wrote the record)."""
        steps = prompt_steps(prompt.spec.rollout)
        detail = f"version {record.candidate} gets {record.weight}% of {record.label}'s requests"
        event = self._event(EventKind.STARTED, prompt, record.state, steps, record.weight, detail)
        self._emit((event,))
        return event

    def _emit(self, events: Sequence[RolloutEvent]) -> None:
        for event in events:
            self.audit.write(**event.to_json())
            if event.kind is not EventKind.MEASURED:  # webhooks get state changes, not every measurement
                self.notify(event)

    def _event(
        self,
        kind: EventKind,
        prompt: Prompt,
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
            target=TargetKind.PROMPT,
            name=prompt.metadata.name,
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
        prompt: Prompt,
        record: LabelRollout,
        steps: Sequence[CompiledStep],
        events: tuple[RolloutEvent, ...],
        *,
        measurements: tuple[Measurement, ...] = (),
        window: tuple[float, float] | None = None,
    ) -> RolloutStatus:
        return status_of(
            target=TargetKind.PROMPT,
            name=prompt.metadata.name,
            state=record.state,
            steps=steps,
            weight=record.weight,
            share=100,
            events=events,
            measurements=measurements,
            window=window,
        )


__all__ = ["PromptRolloutDriver", "RecordMovedError"]
