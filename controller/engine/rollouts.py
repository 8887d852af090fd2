"""Every rollout of a set of manifests, endpoints and prompt labels alike, behind one face: what `genaiops
rollout status|promote|abort|pause|resume|retry` and `status` work on. It picks the driver by what a name
refers to and hands the rest to the endpoint driver (`rollout_driver.py`) or the prompt driver
(`prompt_rollouts.py`); both run the same rollout machine and return the same `RolloutStatus`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from controller.engine.prompt_rollouts import PromptRolloutDriver
from controller.engine.rollout_driver import RolloutDriver
from controller.errors import NotFoundError, UserError
from controller.model import Endpoint, Prompt
from controller.model.suggest import did_you_mean
from controller.prompts.canary import canary_labels
from controller.rollout.events import RolloutStatus

ACTIONS = ("promote", "abort", "pause", "resume", "retry")


@dataclass(frozen=True)
class Rollouts:
    """The canary Endpoints and Prompts of a load, with the drivers that move them (a driver is None when
    there is nothing of its kind to drive)."""

    endpoints: Sequence[Endpoint]
    prompts: Sequence[Prompt]
    endpoint_driver: RolloutDriver | None
    prompt_driver: PromptRolloutDriver | None

    def statuses(self) -> list[RolloutStatus]:
        """Every recorded rollout, measured now (read-only)."""
        found: list[RolloutStatus] = []
        if self.endpoint_driver is not None:
            found.extend(self.endpoint_driver.statuses(self.endpoints))
        if self.prompt_driver is not None:
            found.extend(self.prompt_driver.statuses(self.prompts))
        return found

    def watch(self, *, every_s: float, sleep: Callable[[float], None]) -> Iterator[list[RolloutStatus]]:
        """`statuses` every `every_s` seconds until every rollout finished or waits for a person."""
        while True:
            statuses = self.statuses()
            yield statuses
            if all(s.finished or s.waiting_for_human for s in statuses):
                return
            sleep(every_s)

    def only(self, name: str | None, *, label: str | None = None) -> Rollouts:
        """The rollouts of one endpoint or prompt (`name`, or `endpoint/NAME` / `prompt/NAME` when both kinds
        use it); all of them for None. UserError naming what exists when nothing matches."""
        if name is None:
            return self
        kind, _, bare = name.rpartition("/")
        kind = kind.lower()
        if kind not in ("", "endpoint", "prompt"):
            raise UserError(f"{name!r}: write NAME, endpoint/NAME or prompt/NAME")
        endpoints = [e for e in self.endpoints if e.metadata.name == bare and kind in ("", "endpoint")]
        prompts = [p for p in self.prompts if p.metadata.name == bare and kind in ("", "prompt")]
        if endpoints and prompts:
            raise UserError(f"both an Endpoint and a Prompt are named {bare!r}: write endpoint/{bare} or prompt/{bare}")
        if not endpoints and not prompts:
            known = [e.metadata.name for e in self.endpoints] + [p.metadata.name for p in self.prompts]
            listed = ", ".join(sorted(known)) or "none"
            raise UserError(
                f"no canary Endpoint or Prompt named {bare!r} (canaries: {listed}){did_you_mean(bare, known)}"
            )
        if label is not None and prompts and label not in canary_labels(prompts[0]):
            labels = ", ".join(canary_labels(prompts[0]))
            raise UserError(f"prompt {bare!r} rolls out labels {labels}, not {label!r}")
        return Rollouts(endpoints, prompts, self.endpoint_driver, self.prompt_driver)

    def act(self, name: str, action: str, *, label: str | None = None, full: bool = False) -> RolloutStatus | None:
        """A human's command on one rollout: an endpoint's, or one label of a prompt (`label` may be left out
        when only one of the prompt's labels has a rollout)."""
        if action not in ACTIONS:
            raise UserError(f"unknown rollout action {action!r}: one of {', '.join(ACTIONS)}")
        chosen = self.only(name, label=label)
        if chosen.endpoints:
            assert self.endpoint_driver is not None, "endpoint rollouts need the endpoint driver"
            return self.endpoint_driver.act(chosen.endpoints[0], action, full=full)
        prompt = chosen.prompts[0]
        assert self.prompt_driver is not None, "prompt rollouts need the prompt driver"
        return self.prompt_driver.act(prompt, self._label_of(prompt, label), action, full=full)

    def _label_of(self, prompt: Prompt, label: str | None) -> str:
        if label is not None:
            return label
        assert self.prompt_driver is not None
        recorded = self.prompt_driver.recorded_labels(prompt)
        if len(recorded) == 1:
            return recorded[0]
        if not recorded:
            raise NotFoundError(f"no label of prompt {prompt.metadata.name!r} has a rollout")
        raise UserError(f"prompt {prompt.metadata.name!r} has rollouts on {', '.join(recorded)}: name one with --label")


__all__ = ["ACTIONS", "Rollouts"]
