"""Planning prompts against the store: the unified text diff of a changed template, the field diff of the
config, label moves, no-ops, and `genaiops prompts plan` / `publish` on the CLI (local and gs://)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from google.cloud import storage

from controller.cli.main import main
from controller.plans.plan import Action, FieldChange
from controller.prompts.plan import apply_prompt_plan, plan_lines, plan_markdown, plan_prompts, resource_changes
from controller.prompts.store import PromptStore
from controller.prompts.version import Provenance
from controller.providers.prompt_store import LocalPromptStore
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
    apply_prompt_plan(plan_prompts(load_sources(root), store), store, WHO)


def test_a_new_prompt_is_planned_as_a_create_with_every_field(write: Callable[..., Path], store: PromptStore) -> None:
    plan = plan_prompts(load_sources(manifests(write)), store)
    (change,) = plan.changes
    assert change.action is Action.CREATE and change.new_version
    assert change.labels == {"staging": None, "production": None}
    assert FieldChange("generationConfig.temperature", None, 0.2) in change.changes
    assert "+Greet {{ customer }}." in change.template_diff.splitlines()
    assert plan.summary_line().startswith("Prompts: 1 version to publish, 2 labels to move")


def test_a_changed_template_shows_a_unified_text_diff(write: Callable[..., Path], store: PromptStore) -> None:
    root = manifests(write)
    published(root, store)
    before = plan_prompts(load_sources(root), store).changes[0].version.id
    manifests(write, TEMPLATE.replace("Be brief.", "Be brief and kind."))
    (change,) = plan_prompts(load_sources(root), store).changes
    assert change.action is Action.UPDATE and change.new_version
    assert change.template_diff.splitlines() == [
        f"--- greet@{before}",
        f"+++ greet@{change.version.id} ({root / 'greet.j2'})",
        "@@ -1,3 +1,3 @@",
        " Greet {{ customer }}.",
        "-Be brief.",
        "+Be brief and kind.",
        " Sign as Support.",
    ]
    assert change.diff_stat == (1, 1)
    assert change.changes == (
        FieldChange("labels.production", before, change.version.id),
        FieldChange("labels.staging", before, change.version.id),
    )
    (resource,) = resource_changes(plan_prompts(load_sources(root), store))
    assert (resource.kind, resource.name, resource.action) == ("Prompt", "greet", Action.UPDATE)
    assert "template changed (+1 -1 lines)" in resource.reasons


def test_a_config_change_is_a_field_diff_without_a_template_diff(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write)
    published(root, store)
    manifests(write, temperature=0.7)
    (change,) = plan_prompts(load_sources(root), store).changes
    assert change.template_diff == ""
    assert FieldChange("generationConfig.temperature", 0.2, 0.7) in change.changes
    assert "      ~ generationConfig.temperature: 0.2 -> 0.7" in plan_lines(plan_prompts(load_sources(root), store))


def test_labels_the_manifest_drops_stay_where_they_are(write: Callable[..., Path], store: PromptStore) -> None:
    root = manifests(write)
    published(root, store)
    old = plan_prompts(load_sources(root), store).changes[0].version.id
    manifests(write, "New {{ customer }}\n", labels="[staging]")
    plan = plan_prompts(load_sources(root), store)
    assert list(plan.changes[0].labels) == ["staging"]
    apply_prompt_plan(plan, store, WHO)
    index = store.read_index("greet")
    assert index is not None and index.labels["production"] == old and index.labels["staging"] != old


def test_an_unchanged_prompt_is_a_no_op(write: Callable[..., Path], store: PromptStore) -> None:
    root = manifests(write)
    published(root, store)
    plan = plan_prompts(load_sources(root), store)
    assert plan.changes[0].action is Action.NOOP and not plan.actionable
    assert plan.changes[0].changes == () and plan.changes[0].template_diff == ""
    assert plan_lines(plan)[-1].startswith("Prompts: no changes")


def test_returning_to_an_old_version_moves_labels_without_publishing(
    write: Callable[..., Path], store: PromptStore
) -> None:
    root = manifests(write)
    published(root, store)
    manifests(write, "Other {{ customer }}\n")
    published(root, store)
    manifests(write)  # revert the template
    (change,) = plan_prompts(load_sources(root), store).changes
    assert change.action is Action.UPDATE and not change.new_version and set(change.labels) == {"staging", "production"}


def test_prompts_plan_prints_the_diff_and_exits_2_with_changes(
    write: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = manifests(write)
    store = str(tmp_path / "cli-store")
    assert run(["prompts", "publish", str(root), "--prompt-store", store, "--commit", "c1", "--author", "ada"]) == 0
    manifests(write, TEMPLATE.replace("Sign as Support.", "Sign as the Support team."))
    capsys.readouterr()
    assert run(["prompts", "plan", str(root), "--prompt-store", store, "--detailed-exitcode"]) == 2
    printed = capsys.readouterr().out.splitlines()
    assert "        -Sign as Support." in printed
    assert "        +Sign as the Support team." in printed
    assert any(line.startswith("Prompts: 1 version to publish, 2 labels to move") for line in printed)


def test_publish_to_cloud_storage_from_the_cli_then_plan_has_no_changes(
    write: Callable[..., Path],
    new_client: Callable[[], storage.Client],
    bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = manifests(write)
    url = f"gs://{bucket}/prompts-ci"
    assert run(["prompts", "publish", str(root), "--prompt-store", url, "--commit", "c1", "--author", "ada"]) == 0
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
    text = plan_markdown(plan_prompts(load_sources(root), store))
    assert "```diff\n" in text and "\n-Be brief.\n+Be very brief.\n" in text
    assert text.rstrip().endswith("2 labels to move (" + str(store.location) + ").")
