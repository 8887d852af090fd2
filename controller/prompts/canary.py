"""A prompt label's canary record: starting one (what `apply` writes) and the published versions as the
rollout machine's `Serving`. Pure index transitions, applied by the stores' compare-and-swap; the record
itself is `LabelRollout` in `controller.prompts.index`, and the passes that move it are the engine's
prompt rollout driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.errors import ConflictError
from controller.model import Prompt
from controller.model.common import duration_seconds
from controller.model.endpoint import Rollout
from controller.prompts.index import LabelRollout, PromptIndex, with_rollout
from controller.rollout.state import Phase, RolloutState
from controller.rollout.strategy import CompiledStep, compile_steps


@dataclass(frozen=True)
class Published:
    """A prompt's published versions, as the machine's `Serving`: a version is 'deployed' when listed."""

    index: PromptIndex

    def deployed(self, version: str, /) -> object | None:
        """The index entry of `version`, None when it is not published."""
        return self.index.entry(version)


def canary_labels(prompt: Prompt) -> tuple[str, ...]:
    """The labels a Prompt rolls out by canary (none for a direct rollout)."""
    return prompt.spec.labels if prompt.spec.rollout.strategy != "direct" else ()


def prompt_steps(rollout: Rollout) -> tuple[CompiledStep, ...]:
    """A Prompt's steps: a canary's as written; an experiment is one step holding the new version at its
    fixed weight for the whole duration, judged at the end by the experiment's report (no per-interval
    analysis); none for a direct rollout."""
    if rollout.strategy == "experiment" and rollout.experiment is not None:
        settings = rollout.experiment
        return (CompiledStep(settings.treatment_weight, duration_seconds(settings.duration), None),)
    return compile_steps(rollout) if rollout.strategy == "canary" else ()


def new_rollout(*, label: str, stable: str, candidate: str, weight: int, now: float) -> LabelRollout:
    """The record `apply` writes when it starts a label's canary: step 0 at the first step's weight."""
    state = RolloutState(
        deployment=label,
        revision=candidate,
        phase=Phase.PROGRESSING,
        step=0,
        step_started=math.ceil(now),  # rounded up, as the machine starts a step: the initial delay never shrinks
        canary_id=candidate,
        stable_id=stable,
    )
    return LabelRollout(state, weight)


def start(index: PromptIndex | None, record: LabelRollout, *, name: str) -> PromptIndex:
    """The index with `record` started (the CAS change of StartPromptRollout): ConflictError (the executor
    re-plans) when the label no longer points at the stable the plan saw; unchanged when the same candidate
    is already under way, so a retried or re-run start writes nothing twice."""
    if index is None:
        raise ConflictError(f"prompt {name!r} has no index any more")
    current = index.rollouts.get(record.label)
    if (
        current is not None
        and current.state.revision == record.state.revision
        and current.stable == record.stable
        and not current.state.phase.terminal
    ):
        return index
    if index.labels.get(record.label) != record.stable:
        raise ConflictError(
            f"label {record.label!r} of prompt {name!r} points at {index.labels.get(record.label)}, "
            f"not {record.stable} as planned"
        )
    try:
        return with_rollout(index, record)
    except ValueError as err:
        raise ConflictError(str(err)) from err


__all__ = ["Published", "canary_labels", "new_rollout", "prompt_steps", "start"]
