"""Rollout events and status: what happened to a rollout and where it stands (pure data for views,
the audit log and webhooks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from controller.rollout.reason import Reason
from controller.rollout.state import Phase, RolloutState
from controller.rollout.verdicts import Measurement


class TargetKind(StrEnum):
    """What a rollout moves: an endpoint's traffic between deployed models, or a prompt label's requests
    between versions. For a prompt, `endpoint` below names the prompt, `deployment` the label and
    `revision` the candidate version."""

    ENDPOINT = "Endpoint"
    PROMPT = "Prompt"


def identity(target: TargetKind, name: str, part: str) -> str:
    """How people and `--watch` name a rollout: `chat/primary` (endpoint/deployment) or
    `prompt/support-answer[production]` (a prompt's label)."""
    return f"{name}/{part}" if target is TargetKind.ENDPOINT else f"prompt/{name}[{part}]"


class EventKind(StrEnum):
    """What happened (the audit log's and webhook's `event` is `rollout-<kind>`)."""

    STARTED = "started"
    STEP = "step"
    MEASURED = "measured"
    PAUSED = "paused"
    RESUMED = "resumed"
    PROMOTED = "promoted"
    ABORTED = "aborted"  # rolled back, by the analysis or by a human
    RETRY = "retry"


@dataclass(frozen=True)
class RolloutEvent:
    """Something that happened to a rollout (audit log, webhook, progress output)."""

    kind: EventKind
    endpoint: str
    deployment: str
    revision: str
    at: float
    step: int
    steps: int
    weight: int | None
    detail: str = ""  # for people (the reason described, or what started)
    measurements: tuple[Measurement, ...] = ()
    reason: Reason | None = None  # why it moved, paused or rolled back
    target: TargetKind = TargetKind.ENDPOINT

    @property
    def name(self) -> str:
        """`support-chat/primary`, or `prompt/support-answer[production]` for a prompt label (for people)."""
        return identity(self.target, self.endpoint, self.deployment)

    def to_json(self) -> dict[str, object]:
        """The webhook / audit body (a prompt rollout adds `kind`, `prompt` and `label`)."""
        about: dict[str, object] = (
            {"endpoint": self.endpoint, "deployment": self.deployment}
            if self.target is TargetKind.ENDPOINT
            else {"kind": self.target.value, "prompt": self.endpoint, "label": self.deployment}
        )
        return {
            "event": f"rollout-{self.kind}",
            **about,
            "revision": self.revision,
            "at": self.at,
            "step": self.step,
            "steps": self.steps,
            "weight": self.weight,
            "detail": self.detail,
            "reason": self.reason.to_json() if self.reason is not None else None,
            "measurements": [
                {
                    "metric": m.metric,
                    "value": m.value,
                    "threshold": m.threshold,
                    "verdict": m.verdict.value,
                    "requests": m.requests,
                    "detail": m.detail,
                }
                for m in self.measurements
            ],
        }


@dataclass(frozen=True)
class RolloutStatus:
    """Where one endpoint's (or prompt label's) rollout stands after a pass."""

    endpoint: str
    state: RolloutState
    steps: int
    weight: int  # canary's percent of the deployment's share
    share: int  # the deployment's share of the endpoint's traffic
    measurements: tuple[Measurement, ...] = ()
    next_at: float | None = None
    events: tuple[RolloutEvent, ...] = field(default=())

    @property
    def finished(self) -> bool:
        """Promoted or rolled back."""
        return self.state.phase.terminal

    at_indefinite_pause: bool = False  # the step's work is done and it waits for `rollout promote`
    window: tuple[float, float] | None = None  # the [start, end] `measurements` cover, when known
    target: TargetKind = TargetKind.ENDPOINT  # a prompt: `endpoint` is the prompt, the state's deployment the label

    @property
    def name(self) -> str:
        """`support-chat/primary`, or `prompt/support-answer[production]` (for people)."""
        return identity(self.target, self.endpoint, self.state.deployment)

    @property
    def waiting_for_human(self) -> bool:
        """Paused, or holding at an indefinite pause: only `rollout resume` / `promote` / `abort` moves it."""
        return self.state.phase is Phase.PAUSED or self.at_indefinite_pause
