"""`genaiops validate`, `demo` and the entry points, on valid input (the invalid corpus has its own tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli.main import cli
from tests.helpers import MANIFESTS, ROOT, run_cli


def test_validate_accepts_the_example_manifests() -> None:
    result = run_cli(cli, ["validate", str(MANIFESTS)])
    assert result.exit_code == 0, result.output
    assert "All manifests valid: 7 files" in result.output  # 3 of manifests, 2 of alerts, 2 of environments


def test_validate_defaults_to_the_manifests_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert run_cli(cli, ["validate"]).exit_code == 0


def test_validate_json_output_is_a_versioned_document() -> None:
    result = run_cli(cli, ["validate", str(MANIFESTS), "--output", "json"])
    document = json.loads(result.output)
    assert result.exit_code == 0
    assert document["format_version"] == "1"
    assert document["valid"] is True
    assert document["manifests"] == 13  # 7, 1 channel, 5 alerts
    assert document["diagnostics"] == []


def test_validate_reports_a_missing_path_as_an_error(tmp_path: Path) -> None:
    result = run_cli(cli, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such file or directory" in result.output


def test_validate_reports_a_directory_without_manifests(tmp_path: Path) -> None:
    result = run_cli(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "no *.yaml or *.yml files" in result.output


def test_validate_lists_every_problem_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: genaiops/v1\nkind: Endpoint\nmetadata: {name: Bad_Name}\nspec:\n"
        "  deployments: [{name: main, model: nope}]\n  traffic: {main: 90}\n",
        encoding="utf-8",
    )
    (tmp_path / "b.yml").write_text("kind: Gadget\n", encoding="utf-8")
    result = run_cli(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("3 errors")
    assert lines[0].startswith(f"{tmp_path}/a.yaml:3:18 metadata.name: invalid name 'Bad_Name'")
    assert lines[1].startswith(f"{tmp_path}/b.yml:1:1 apiVersion: apiVersion must be 'genaiops/v1' (missing)")
    kinds = (
        "Model, Endpoint, Prompt, Dataset, TuningJob, Pipeline, Budget, PriceBook, Environment, Alert, "
        "NotificationChannel, ModelLifecycle"
    )
    assert lines[2].startswith(f"{tmp_path}/b.yml:1:7 kind: kind must be one of {kinds} (got 'Gadget')")


def test_a_usage_error_exits_1_not_2() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "controller", "validate", "--output", "xml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 1
    assert "Invalid value for '--output'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_python_dash_m_controller_runs_the_same_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "controller", "validate", str(MANIFESTS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "All manifests valid" in completed.stdout


def test_demo_validate_only_summarises_what_the_manifests_declare() -> None:
    result = run_cli(cli, ["demo", str(MANIFESTS), "--validate-only"])
    assert result.exit_code == 0, result.output
    for name in ("support-chat", "intent-router", "support-llm", "gemini-flash", "support-answer", "ticket-triage"):
        assert name in result.output
    assert "canary 20% → 50%" in result.output
