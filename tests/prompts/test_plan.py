"""Planning prompts against the store as Plan operations: the unified text diff of a changed template, the
field diff of the config, label moves, no-ops, drift when a label is moved by hand, and `genaiops prompts
plan` / `publish` on the CLI (local and gs://), which run the engine's one apply routine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from google.cloud import storage

from controller.cli.main import main
from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.audit import AuditLog
from controller.engine.session import NoLock, Session
from controller.loader import load
from controller.plans.operations import MovePromptLabels, PublishPromptVersion
from controller.plans.plan import Action, FieldChange, Plan, ResourceChange, Sync
from controller.prompts.prompt_plan import plan_prompts
from controller.prompts.store import PromptStore, move_label
from controller.prompts.version import Provenance
from controller.providers.prompt_store import LocalPromptStore
from controller.views.plan_human import plan_lines
from controller.views.plan_markdown import render_markdown
from tests.prompts.conftest import load_sources, prompt_yaml

TEMPLATE = "Greet {{ customer }}.\nBe brief.\nSign as Support.\n"
WHO = Provenance(created="2025-01-01T00:00:00+00:00", commit="c1", author="ada")


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    return LocalPromptStore(tmp_path / "store")


def manifests(
    write: Callable[..., Path],
    template: str = TEMPLATE,
    *,
    temperature: float = 0.2,
    labels: str = "[staging, production]",
) -> Path:
    return write(
        {
            "p.yaml": prompt_yaml(
                template_file="greet.j2", labels=labels, extra=f"generationConfig: {{temperature: {temperature}}}\n"
            ),
            "greet.j2": template,
        }
    )


def run(args: list[str]) -> int:
    """Run the CLI in-process; the exit code (0 when a command returns normally)."""
    try:
        main(args)
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def published(root: Path, store: PromptStore) -> None:
    """Apply the prompts under `root` through the engine, as `genaiops apply` does."""
    session = Session(name="test store", ports={}, metrics=None, lock=NoLock(), open_prompts=lambda: store)
    outcome = apply_changes(
        session,
        load(root),
        options=ApplyOptions(prompts_only=True, commit=WHO.commit, author=WHO.author),
        audit=AuditLog(root.parent / "audit.log"),
    )
    assert outcome.ok, outcome.result.failed


def planned(root: Path, store: PromptStore) -> ResourceChange:
    (change,) = plan_prompts(load_sources(root), store)
    return change


def text_of(change: ResourceChange) -> list[str]:
    return [line.plain for line in plan_lines(Plan((change,)))]


def test_a_new_prompt_is_planned_as_a_create_with_a_publish_and_a_label_move(
    write: Callable[..., Path], store: PromptStore
) -> None:
    change = planned(manifests(write), store)
    assert change.action is Action.CREATE and change.sync is Sync.OUT_OF_SYNC
    publish, move = change.operations
    assert isinstance(publish, PublishPromptVersion) and isinstance(move, MovePromptLabels)
    assert move.labels == ("production", "staging") and dict(move.expect) == {"staging": None, "production": None}
    assert FieldChange("generationConfig.temperature", None, 0.2) in change.changes
    assert "+Greet {{ customer }}." in change.text_diffs[0].unified.splitlines()
    assert Plan((change,)).summary().line().startswith("Plan: 1 to add")


def test_a_changed_template_shows_a_unified_text_diff(write: Callable[..., Path], store: PromptStore) -> None:
    root = manifests(write)
    published(root, store)
    before = planned(root, store).after["version"]  # type: ignore[index]
    manifests(write, TEMPLATE.replace("Be brief.", "Be brief and kind."))
    change = planned(root, store)
    after = change.after["version"]  # type: ignore[index]
    assert change.action is Action.UPDATE and isinstance(change.operations[0], PublishPromptVersion)
    assert change.text_diffs[0].unified.splitlines() == [
        f"--- greet@{before}",
        f"+++ greet@{after} ({root / 'greet.j2'})",
        "@@ -1,3 +1,3 @@",
        " Greet {{ customer }}.",
        "-Be brief.",
        "+Be brief and kind.",
        " Sign as Support.",
    ]
    assert change.changes == (
        FieldChange("labels.production", before, after),
        FieldChange("labels.staging", before, after),
    )
    assert "template changed (+1 -1 lines)" in change.reasons
    assert "        -Be brief." in text_of(change) and "        +Be brief and kind." in text_of(change)


def test_a_config_change_is_a_field_diff_without_a_template_diff(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write)
    published(root, store)
    manifests(write, temperature=0.7)
    change = planned(root, store)
    assert change.text_diffs == ()
    assert FieldChange("generationConfig.temperature", 0.2, 0.7) in change.changes
    assert "      ~ generationConfig.temperature: 0.2 -> 0.7" in text_of(change)


def test_labels_the_manifest_drops_stay_where_they_are(write: Callable[..., Path], store: PromptStore) -> None:
    root = manifests(write)
    published(root, store)
    old = planned(root, store).after["version"]  # type: ignore[index]
    manifests(write, "New {{ customer }}\n", labels="[staging]")
    move = planned(root, store).operations[-1]
    assert isinstance(move, MovePromptLabels) and move.labels == ("staging",)
    published(root, store)
    index = store.read_index("greet")
    assert index is not None and index.labels["production"] == old and index.labels["staging"] != old


def test_an_unchanged_prompt_is_a_no_op(write: Callable[..., Path], store: PromptStore) -> None:
    root = manifests(write)
    published(root, store)
    change = planned(root, store)
    assert change.action is Action.NOOP and change.operations == () and change.sync is Sync.SYNCED
    assert change.changes == () and change.text_diffs == ()


def test_returning_to_an_old_version_moves_labels_without_publishing(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write)
    published(root, store)
    manifests(write, "Other {{ customer }}\n")
    published(root, store)
    manifests(write)  # revert the template
    change = planned(root, store)
    assert change.action is Action.UPDATE and not change.drift
    assert [type(op).__name__ for op in change.operations] == ["MovePromptLabels"]


def test_a_label_moved_by_hand_is_drift_and_publishing_again_heals_it(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write)
    published(root, store)
    first = planned(root, store).after["version"]  # type: ignore[index]
    manifests(write, "Other {{ customer }}\n")
    published(root, store)
    second = planned(root, store).after["version"]  # type: ignore[index]
    move_label(store, "greet", "production", str(first), WHO)  # a person rolls production back by hand
    change = planned(root, store)
    assert change.drift and change.sync is Sync.DRIFTED
    assert change.changes == (FieldChange("labels.production", first, second),)
    published(root, store)
    index = store.read_index("greet")
    assert index is not None and index.labels["production"] == second
    assert planned(root, store).action is Action.NOOP


def test_prompts_plan_prints_the_diff_and_exits_2_with_changes(
    write: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = manifests(write)
    store = str(tmp_path / "cli-store")
    audit = str(tmp_path / "audit.log")
    args = ["--prompt-store", store, "--commit", "c1", "--author", "ada", "--audit-log", audit]
    assert run(["prompts", "publish", str(root), *args]) == 0
    manifests(write, TEMPLATE.replace("Sign as Support.", "Sign as the Support team."))
    capsys.readouterr()
    assert run(["prompts", "plan", str(root), "--prompt-store", store, "--detailed-exitcode"]) == 2
    printed = capsys.readouterr().out.splitlines()
    assert "        -Sign as Support." in printed
    assert "        +Sign as the Support team." in printed
    assert any(line.startswith("Plan: 0 to add, 1 to change") for line in printed)


def test_publish_to_cloud_storage_from_the_cli_then_plan_has_no_changes(
    write: Callable[..., Path],
    new_client: Callable[[], storage.Client],
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = manifests(write)
    url = f"gs://{bucket}/prompts-ci"
    audit = str(tmp_path / "audit.log")
    args = ["--prompt-store", url, "--commit", "c1", "--author", "ada", "--audit-log", audit]
    assert run(["prompts", "publish", str(root), *args]) == 0
    assert "Publish complete: 1 prompt changed in gs://" in capsys.readouterr().out
    assert run(["prompts", "plan", str(root), "--prompt-store", url, "--detailed-exitcode"]) == 0
    assert run(["prompts", "history", "greet", "--prompt-store", url]) == 0
    assert "c1  ada  [production, staging]" in capsys.readouterr().out


def test_the_markdown_plan_puts_the_template_diff_in_a_diff_block(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write)
    published(root, store)
    manifests(write, TEMPLATE.replace("Be brief.", "Be very brief."))
    text = render_markdown(Plan((planned(root, store),)))
    assert "```diff\n" in text and "\n-Be brief.\n+Be very brief.\n" in text
    assert "Plan: 0 to add, 1 to change" in text
