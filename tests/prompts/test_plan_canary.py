"""Planning a canary Prompt against a local prompt store: a changed version gets `StartPromptRollout` per
label that points elsewhere (the label itself stays; only a new label moves at once), a rollout of this very
version under way or rolled back plans nothing (its health says why), new content or a label moved by hand
plans a new rollout, the stale-plan fingerprint follows which canaries run but not their progress, and a
`direct` Prompt moves its labels as before.

Rollouts are started by the engine's one apply routine and steered with the prompt rollout driver's human
commands (pause, abort), on a fixed clock: no metrics are read (the first analysis is 10 s away).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.audit import AuditLog
from controller.engine.prompt_rollouts import PromptRolloutDriver
from controller.engine.session import NoLock, Session
from controller.loader import load
from controller.model import Prompt
from controller.plans.operations import MovePromptLabels, PublishPromptVersion, StartPromptRollout
from controller.plans.plan import Action, HealthState, ResourceChange
from controller.prompts.index import PromptIndex
from controller.prompts.prompt_plan import fingerprint, plan_prompts
from controller.prompts.store import PromptStore, move_label
from controller.prompts.version import Provenance
from controller.providers.prompt_store import LocalPromptStore
from controller.rollout.state import Phase
from tests.prompts.conftest import load_sources, prompt_yaml

NOW = 1_700_000_000.0
WHO = Provenance(created="2025-01-01T00:00:00+00:00", commit="c1", author="ada")
CANARY = """\
rollout:
  strategy: canary
  steps: [{weight: 20}, {weight: 50}]
  analysis:
    interval: 10s
    initialDelay: 10s
    minRequests: 10
    metrics: [{name: error-rate, max: 10%}]
"""


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    return LocalPromptStore(tmp_path / "store")


def manifests(
    write: Callable[..., Path], template: str = "Hello {{ customer }}!\n", *, labels: str = "[staging, production]"
) -> Path:
    return write({"p.yaml": prompt_yaml(template=template, labels=labels, extra=CANARY)})


def applied(root: Path, store: PromptStore) -> None:
    """Apply the prompts under `root` through the engine, as `genaiops apply` does (one driver pass too)."""
    session = Session(
        name="test store", ports={}, metrics=None, lock=NoLock(), open_prompts=lambda: store, clock=lambda: NOW
    )
    outcome = apply_changes(
        session, load(root), options=ApplyOptions(prompts_only=True), audit=AuditLog(root.parent / "audit.log")
    )
    assert outcome.ok, outcome.result.failed


def planned(root: Path, store: PromptStore) -> ResourceChange:
    (change,) = plan_prompts(load_sources(root), store)
    return change


def index_of(store: PromptStore) -> PromptIndex:
    index = store.read_index("greet")
    assert index is not None
    return index


def driver(store: PromptStore, tmp_path: Path) -> PromptRolloutDriver:
    return PromptRolloutDriver(store=store, metrics=None, clock=lambda: NOW + 1, audit=AuditLog(tmp_path / "h.log"))


def prompt_of(root: Path) -> Prompt:
    (prompt,) = (i.manifest for i in load(root).manifests if isinstance(i.manifest, Prompt))
    return prompt


def starts(change: ResourceChange) -> dict[str, StartPromptRollout]:
    return {op.label: op for op in change.operations if isinstance(op, StartPromptRollout)}


def test_a_changed_canary_prompt_starts_a_rollout_per_label_and_moves_only_a_new_label(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write)
    applied(root, store)
    stable = index_of(store).labels["production"]
    manifests(write, "Hi {{ customer }}, welcome back!\n", labels="[staging, production, eu]")
    change = planned(root, store)
    candidate = str(change.after["version"])  # type: ignore[index]
    publish, move, *rest = change.operations
    assert isinstance(publish, PublishPromptVersion) and publish.version_id == candidate
    assert isinstance(move, MovePromptLabels) and move.labels == ("eu",) and dict(move.expect) == {"eu": None}
    assert starts(change) == {
        label: StartPromptRollout("greet", candidate, label, stable, 20) for label in ("production", "staging")
    }
    assert len(rest) == 2 and change.action is Action.UPDATE
    assert {"canary on production", "canary on staging"} <= set(change.reasons)

    applied(root, store)
    index = index_of(store)
    assert index.labels == {"staging": stable, "production": stable, "eu": candidate}  # the canaries' labels stay
    assert {lb: (r.stable, r.candidate, r.weight, r.state.step) for lb, r in index.rollouts.items()} == {
        lb: (stable, candidate, 20, 0) for lb in ("production", "staging")
    }


def test_a_rollout_of_this_very_version_under_way_plans_nothing_and_is_progressing_then_paused(
    write: Callable[..., Path], store: PromptStore, tmp_path: Path
) -> None:
    root = manifests(write, labels="[production]")
    applied(root, store)
    manifests(write, "Hi {{ customer }}!\n", labels="[production]")
    applied(root, store)
    under_way = planned(root, store)
    assert (under_way.action, under_way.operations) == (Action.NOOP, ())
    assert under_way.health.state is HealthState.PROGRESSING
    assert under_way.health.reason == "canary on production: step 1, 20%"

    driver(store, tmp_path).act(prompt_of(root), "production", "pause")
    paused = planned(root, store)
    assert (paused.action, paused.operations) == (Action.NOOP, ())
    assert paused.health.state is HealthState.PAUSED and "canary on production paused" in paused.health.reason


def test_a_rolled_back_version_plans_nothing_and_is_degraded_with_the_reason(
    write: Callable[..., Path], store: PromptStore, tmp_path: Path
) -> None:
    root = manifests(write, labels="[production]")
    applied(root, store)
    manifests(write, "Hi {{ customer }}!\n", labels="[production]")
    applied(root, store)
    candidate = str(planned(root, store).after["version"])  # type: ignore[index]
    driver(store, tmp_path).act(prompt_of(root), "production", "abort")
    record = index_of(store).rollouts["production"]
    assert (record.state.phase, record.state.failed_revision, record.weight) == (Phase.DEGRADED, candidate, 0)

    change = planned(root, store)
    assert (change.action, change.operations) == (Action.NOOP, ())
    assert change.health.state is HealthState.DEGRADED
    assert change.health.reason == f"canary of {candidate} on production rolled back: aborted by a human"


def test_new_content_after_a_rollback_plans_and_starts_a_new_rollout(
    write: Callable[..., Path], store: PromptStore, tmp_path: Path
) -> None:
    root = manifests(write, labels="[production]")
    applied(root, store)
    stable = index_of(store).labels["production"]
    manifests(write, "Hi {{ customer }}!\n", labels="[production]")
    applied(root, store)
    driver(store, tmp_path).act(prompt_of(root), "production", "abort")
    manifests(write, "Good day, {{ customer }}.\n", labels="[production]")
    change = planned(root, store)
    third = str(change.after["version"])  # type: ignore[index]
    assert starts(change) == {"production": StartPromptRollout("greet", third, "production", stable, 20)}
    assert change.health.state is HealthState.HEALTHY  # the rolled-back version is not this one

    applied(root, store)
    record = index_of(store).rollouts["production"]
    assert (record.candidate, record.stable, record.state.phase, record.state.failed_revision) == (
        third,
        stable,
        Phase.PROGRESSING,
        "",
    )


def test_a_record_left_over_with_another_stable_plans_a_new_rollout_from_where_the_label_points(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write, labels="[production]")
    applied(root, store)
    first = index_of(store).labels["production"]
    manifests(write, "Hi {{ customer }}!\n", labels="[production]")
    applied(root, store)
    candidate = str(planned(root, store).after["version"])  # type: ignore[index]
    manifests(write, "Other {{ customer }}\n", labels="[direct-only]")
    applied(root, store)  # a third version, published under another label
    other = index_of(store).labels["direct-only"]
    move_label(store, "greet", "production", other, WHO)  # a person moves production by hand mid-canary

    manifests(write, "Hi {{ customer }}!\n", labels="[production]")
    change = planned(root, store)
    assert starts(change) == {"production": StartPromptRollout("greet", candidate, "production", other, 20)}
    applied(root, store)
    record = index_of(store).rollouts["production"]
    assert (record.candidate, record.stable, record.state.phase) == (candidate, other, Phase.PROGRESSING)
    assert record.stable != first
    assert planned(root, store).action is Action.NOOP


def test_the_fingerprint_changes_when_a_canary_starts_but_not_when_its_counters_move(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write, labels="[production]")
    applied(root, store)
    manifests(write, "Hi {{ customer }}!\n", labels="[production]")
    applied(root, store)
    started = index_of(store)
    assert fingerprint(started) != fingerprint(replace(started, rollouts={}))  # same versions and labels

    record = started.rollouts["production"]
    moved_on = replace(
        record, state=record.state.at_step(1, int(NOW) + 30).evolve(successes=1, last_analysis=int(NOW) + 30), weight=50
    )
    assert fingerprint(replace(started, rollouts={"production": moved_on})) == fingerprint(started)
    rolled_back = replace(record, state=record.state.evolve(phase=Phase.DEGRADED, failed_revision=record.candidate))
    assert fingerprint(replace(started, rollouts={"production": rolled_back})) != fingerprint(started)


def test_a_direct_prompt_moves_its_labels_and_starts_no_rollout(write: Callable[..., Path], store: PromptStore) -> None:
    root = write({"p.yaml": prompt_yaml(labels="[staging, production]")})
    applied(root, store)
    old = index_of(store).labels["production"]
    write({"p.yaml": prompt_yaml(template="Hi {{ customer }}!\n", labels="[staging, production]")})
    change = planned(root, store)
    assert [type(op).__name__ for op in change.operations] == ["PublishPromptVersion", "MovePromptLabels"]
    move = change.operations[1]
    assert isinstance(move, MovePromptLabels) and dict(move.expect) == {"staging": old, "production": old}
    applied(root, store)
    index = index_of(store)
    assert index.rollouts == {} and set(index.labels.values()) == {str(change.after["version"])}  # type: ignore[index]
