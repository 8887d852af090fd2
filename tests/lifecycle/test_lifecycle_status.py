"""`plan`, `apply` and `status` on the local emulator target show what the loader found about the models'
lifecycle: warnings above the plan (and in its JSON and Markdown), and a prompt whose model retires within
the horizon is `retiring` in status, with the days left, the last day and the model to move to."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from click.testing import Result

from controller.cli.main import cli
from controller.engine.planning import retiring_reasons
from controller.loader import load_file
from controller.loader.checks import Located
from controller.model.catalogue.lifecycle import Horizon
from controller.plans.lifecycle_health import with_retiring_health
from controller.plans.plan import Action, Health, HealthState, ResourceChange
from tests.helpers import run_cli

PROMPTS = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: answer}
spec:
  model: publishers/google/models/gemini-2.0-flash
  template: "Answer: {{ question }}"
  variables: {question: {type: string}}
  labels: [production]
---
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: pro-answer}
spec:
  model: pro
  template: "Answer: {{ question }}"
  variables: {question: {type: string}}
  labels: [production]
---
apiVersion: genaiops/v1
kind: Model
metadata: {name: pro}
spec: {publisher: publishers/google/models/gemini-2.5-pro}
"""
WARNING = "prompts.yaml:5:10 spec.model: warning: gemini-2.0-flash is retiring in 47 days (last day 2026-02-05)"


class Local:
    """Manifests and the embedded emulator's state in a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifests = root / "manifests"
        self.manifests.mkdir()
        (self.manifests / "prompts.yaml").write_text(PROMPTS, encoding="utf-8")

    def run(self, today: str, command: str, *args: str) -> Result:
        return run_cli(
            cli, ["--today", today, command, str(self.manifests), "--state-dir", str(self.root / "state"), *args]
        )


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Local:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GENAIOPS_EMULATOR", raising=False)
    return Local(tmp_path)


def test_plan_shows_the_warning_above_the_plan_and_in_json_and_markdown_and_still_succeeds(local: Local) -> None:
    human = local.run("2025-12-20", "plan")
    assert human.exit_code == 0, human.output
    assert WARNING in human.output
    assert human.output.index(WARNING) < human.output.index("genaiops will perform the following actions")
    assert "Error:" not in human.output
    document = json.loads(local.run("2025-12-20", "plan", "--output", "json").output)
    assert [(d["severity"], d["path"]) for d in document["diagnostics"]] == [("warning", "spec.model")]
    markdown = local.run("2025-12-20", "plan", "--output", "markdown").output
    assert "**Warning:**" in markdown and "gemini-2.0-flash is retiring in 47 days" in markdown


def test_apply_prints_the_warning_and_applies(local: Local) -> None:
    applied = local.run("2025-12-20", "apply", "--auto-approve", "--audit-log", str(local.root / "audit.log"))
    assert applied.exit_code == 0, applied.output
    assert WARNING in applied.output


def test_status_shows_a_prompt_on_a_retiring_model_as_retiring_with_the_days_left(local: Local) -> None:
    applied = local.run("2025-12-20", "apply", "--auto-approve", "--audit-log", str(local.root / "audit.log"))
    assert applied.exit_code == 0, applied.output
    human = local.run("2025-12-20", "status")
    assert human.exit_code == 0, human.output  # retiring is a warning, not a problem
    assert WARNING in human.output
    assert "retiring" in human.output and "(1 retiring soon)" in human.output
    document = json.loads(local.run("2025-12-20", "status", "--output", "json").output)
    health = {r["name"]: (r["health"], r["reason"], r["needs_attention"]) for r in document["resources"]}
    assert health == {
        "answer": (
            "retiring",
            "gemini-2.0-flash retiring in 47 days (last day 2026-02-05); move to gemini-2.5-flash",
            False,
        ),
        "pro-answer": ("healthy", "", False),
    }


def test_a_prompt_naming_a_model_manifest_retires_with_its_publisher_model_unless_it_is_already_unwell() -> None:
    day = Horizon(date(2026, 9, 1))
    reasons = retiring_reasons(load_file_of(PROMPTS), day)
    assert reasons[("Prompt", "pro-answer")].startswith("through pro: gemini-2.5-pro retiring in ")
    assert ("Prompt", "answer") not in reasons  # retired that day: an error of the load, not a health
    healthy = ResourceChange("Prompt", "pro-answer", "global", Action.NOOP, {}, {})
    degraded = replace(healthy, name="pro-answer", health=Health(HealthState.DEGRADED, "canary rolled back"))
    marked = with_retiring_health([healthy, degraded], reasons)
    assert marked[0].health.state is HealthState.RETIRING
    assert marked[1].health == degraded.health  # a worse health is never masked


def load_file_of(text: str) -> list[Located]:
    """The manifests of one YAML text (validated alone)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "prompts.yaml"
        path.write_text(text, encoding="utf-8")
        items, problems = load_file(path)
    assert problems == []
    return items
