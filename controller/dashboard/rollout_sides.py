"""Which deployed models (or prompt versions) a rollout page plots as the stable and the canary.

While a rollout runs, its live record names both. Once it ends the record forgets one: a rollback clears the
canary's id (and undeploys it), a promotion makes the canary the stable; a prompt's promotion clears the
record altogether. The rest is in the audit log: the `StartRollout` operation that began the canary
records the split it sent (`stable=80%, canary=20%`), the `DeployModel` before it the canary's id, and a
prompt's label history the version the label pointed at before. A side that cannot be told for sure is ""
(its series stays empty), never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from controller.dashboard.audit_page import AuditRecord, operations
from controller.model import Endpoint
from controller.prompts.index import PromptIndex
from controller.rollout.events import RolloutStatus
from controller.rollout.state import Phase

SLACK_S = 5.0  # the operations of an apply are written just before its rollout-started event
_SPLIT = re.compile(r"([^\s,=]+)=\d+%")


def _only(ids: set[str]) -> str:
    return next(iter(ids)) if len(ids) == 1 else ""


def split_ids(records: Sequence[AuditRecord], *, address: str, until: float) -> set[str]:
    """The deployed model ids of the split the last `StartRollout` on `address` (up to `until`) sent."""
    starts = operations(records, address=address, op="StartRollout", until=until)
    return set(_SPLIT.findall(str(starts[-1].record.get("result", "")))) if starts else set()


def endpoint_sides(
    records: Sequence[AuditRecord], endpoint: Endpoint, *, status: RolloutStatus | None, started_at: float
) -> tuple[str, str]:
    """(stable, canary) deployed model ids of the endpoint's latest rollout."""
    address = f"Endpoint/{endpoint.spec.region}/{endpoint.metadata.name}"
    until = started_at + SLACK_S
    ids = split_ids(records, address=address, until=until)
    state = status.state if status is not None else None
    if state is not None and state.phase is Phase.HEALTHY:  # promoted: the canary is the stable now
        return _only(ids - {state.stable_id}), state.stable_id
    if state is not None and state.canary_id:
        return state.stable_id, state.canary_id
    stable = state.stable_id if state is not None else ""
    canary = _only(ids - {stable}) if stable else ""
    if not canary:
        deploys = operations(records, address=address, op="DeployModel", until=until)
        canary = str(deploys[-1].record.get("result", "")) if deploys else ""
    if not stable and canary:
        stable = _only(ids - {canary})
    return stable, canary


def prompt_sides(
    index: PromptIndex | None, label: str, *, status: RolloutStatus | None, run: Sequence[AuditRecord]
) -> tuple[str, str]:
    """(stable, candidate) versions of a prompt label's latest rollout."""
    if status is not None:
        state = status.state
        return state.stable_id, state.canary_id or state.revision
    candidate = str(run[-1].record.get("revision", "")) if run else ""
    if index is None or not candidate:
        return "", candidate
    moved = [m for m in index.history if m.label == label and m.version == candidate]
    return (moved[-1].previous or "") if moved else "", candidate


__all__ = ["endpoint_sides", "prompt_sides", "split_ids"]
