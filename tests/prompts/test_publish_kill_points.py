"""The kill points of publishing a prompt (issue 11: prompts are Plan operations). An apply can die between
any two store writes:

1. after the version object is written, before the index lists it (inside PublishPromptVersion);
2. after the index lists the version, before MovePromptLabels points the labels at it;
3. after the labels moved (nothing left to do).

From each, the next apply must converge: the version listed once, every declared label on it, one version
object, and a plan with nothing to do. The state at each kill point is made with the same store calls the
executor makes, stopped where the process would have died.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.audit import AuditLog
from controller.engine.session import NoLock, Session
from controller.engine.steps import Context, run_operation
from controller.loader import load
from controller.plans.operations import PublishPromptVersion
from controller.plans.plan import Action
from controller.prompts.prompt_plan import plan_prompts, version_from
from controller.prompts.store import PromptStore
from controller.prompts.version import Provenance
from controller.providers.prompt_store import LocalPromptStore
from tests.prompts.conftest import load_sources, prompt_yaml

WHO = Provenance(created="2025-01-01T00:00:00+00:00", commit="c1", author="ada")


def _apply(root: Path, store: PromptStore) -> None:
    session = Session(name="test store", ports={}, metrics=None, lock=NoLock(), open_prompts=lambda: store)
    outcome = apply_changes(
        session, load(root), options=ApplyOptions(prompts_only=True), audit=AuditLog(root.parent / "audit.log")
    )
    assert outcome.ok, outcome.result.failed


def _publish_op(root: Path, store: PromptStore) -> PublishPromptVersion:
    (change,) = plan_prompts(load_sources(root), store)
    op = change.operations[0]
    assert isinstance(op, PublishPromptVersion)
    return op


def _killed_after_the_version_object(root: Path, store: PromptStore) -> None:
    store.create_version(version_from(_publish_op(root, store), WHO))


def _killed_after_the_publish(root: Path, store: PromptStore) -> None:
    context = Context(region="global", ports={}, new_versions={}, lock=threading.Lock(), prompts=store)
    run_operation(_publish_op(root, store), context)


@pytest.mark.parametrize(
    "kill",
    [_killed_after_the_version_object, _killed_after_the_publish, _apply],
    ids=["after-version-object", "after-publish-before-labels", "after-labels"],
)
def test_a_rerun_from_each_kill_point_of_a_publish_converges(
    kill: Callable[[Path, PromptStore], None], write: Callable[..., Path], tmp_path: Path
) -> None:
    store = LocalPromptStore(tmp_path / "store")
    root = write({"p.yaml": prompt_yaml(labels="[staging, production]")})
    _apply(root, store)
    first = store.read_index("greet")
    assert first is not None
    write({"p.yaml": prompt_yaml(template="Hi {{ customer }}, welcome back!\n", labels="[staging, production]")})
    kill(root, store)
    _apply(root, store)
    index = store.read_index("greet")
    assert index is not None
    new = [e.version for e in index.versions if e.version not in {v.version for v in first.versions}]
    assert len(new) == 1, index.versions  # listed once, whatever the kill point
    assert index.labels == {"staging": new[0], "production": new[0]}
    assert len(list((tmp_path / "store" / "prompts" / "greet" / "versions").glob("*.json"))) == 2
    (change,) = plan_prompts(load_sources(root), store)
    assert change.action is Action.NOOP
