"""`genaiops validate` judges the Google models the manifests write on `--today`: a model retiring within
`--retirement-horizon` is a warning naming its last day and successor, a retired one an error at the field
that names it, and a ModelLifecycle manifest that moves the date wins over the bundled catalogue."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from controller.cli.main import cli
from controller.loader import load
from controller.model.catalogue.lifecycle import Horizon, model_catalogue
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
metadata: {name: tuned-answer}
spec:
  model: tuned
  template: "Answer: {{ question }}"
  variables: {question: {type: string}}
  labels: [production]
"""
TUNING = """\
apiVersion: genaiops/v1
kind: Dataset
metadata: {name: train}
spec: {source: data/train.jsonl}
---
apiVersion: genaiops/v1
kind: TuningJob
metadata: {name: tuned}
spec:
  baseModel: gemini-2.0-flash-001
  trainingDataset: train
"""
MODEL = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: pro}
spec: {publisher: publishers/google/models/gemini-2.5-pro}
"""
MOVED = """\
apiVersion: genaiops/v1
kind: ModelLifecycle
metadata: {name: extended}
spec:
  models:
    - model: gemini-2.0-flash
      retires: "2026-06-01"
      successor: gemini-2.5-flash
      source: https://ai.google.dev/gemini-api/docs/changelog
      as_of: "2026-01-22"
    - model: gemini-2.0-flash-001
      retires: "2026-06-01"
      successor: gemini-2.5-flash
      source: https://ai.google.dev/gemini-api/docs/changelog
      as_of: "2026-01-22"
"""
EXAMPLE = (
    '{"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "hello"}]}]}\n'
)
CATALOGUE = "genaiops model catalogue of"


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.jsonl").write_text(EXAMPLE, encoding="utf-8")
    (root / "prompts.yaml").write_text(PROMPTS, encoding="utf-8")
    (root / "tuning.yaml").write_text(TUNING, encoding="utf-8")
    (root / "model.yaml").write_text(MODEL, encoding="utf-8")
    return root


def validate(root: Path, *options: str) -> tuple[int, str]:
    result = run_cli(cli, [*options, "validate", str(root)])
    return result.exit_code, result.output


def test_models_retiring_within_the_horizon_are_warnings_with_the_last_day_and_the_successor(
    manifests: Path,
) -> None:
    code, output = validate(manifests, "--today", "2025-12-20")
    assert code == 0, output
    prompt = next(line for line in output.splitlines() if "prompts.yaml" in line)
    assert prompt == (
        f"{manifests / 'prompts.yaml'}:5:10 spec.model: warning: gemini-2.0-flash is retiring in 47 days "
        f"(last day 2026-02-05); move to gemini-2.5-flash ({CATALOGUE} {model_catalogue().read_on}; "
        "the date is UNCONFIRMED: sources differ; update it or declare a ModelLifecycle if Google moved the date)"
    )
    tuned = next(line for line in output.splitlines() if "tuning.yaml" in line)
    assert f"{manifests / 'tuning.yaml'}:10:14 spec.baseModel: warning: gemini-2.0-flash-001 is retiring" in tuned
    assert "the tuned model retires with its base model; used by Prompt/tuned-answer" in tuned
    assert "gemini-2.5-pro" not in output  # current that day: nothing is said
    assert "2 warning(s)" in output


def test_retired_models_are_errors_at_the_field_that_names_them(manifests: Path) -> None:
    code, output = validate(manifests, "--today", "2026-02-06")
    assert code == 1, output
    assert (
        f"{manifests / 'prompts.yaml'}:5:10 spec.model: gemini-2.0-flash retired on 2026-02-05; "
        "move to gemini-2.5-flash (" in output
    )
    assert (
        f"{manifests / 'tuning.yaml'}:10:14 spec.baseModel: gemini-2.0-flash-001 retired on 2026-02-05; "
        "move to gemini-2.5-flash; the tuned model retires with its base model; used by Prompt/tuned-answer" in output
    )
    assert "2 errors" in output


def test_a_shorter_retirement_horizon_silences_the_warning(manifests: Path) -> None:
    code, output = validate(manifests, "--today", "2025-12-20", "--retirement-horizon", "10d")
    assert code == 0, output
    assert "warning" not in output and "All manifests valid" in output


def test_a_model_lifecycle_manifest_that_moves_the_date_removes_the_error(manifests: Path) -> None:
    (manifests / "lifecycle.yaml").write_text(MOVED, encoding="utf-8")
    code, output = validate(manifests, "--today", "2026-02-06")
    assert code == 0, output
    assert "retired" not in output and "warning" not in output
    code, output = validate(manifests, "--today", "2026-05-01")
    assert code == 0 and "(ModelLifecycle/extended; update it if Google moved the date)" in output


def test_json_output_carries_the_severity_and_the_field(manifests: Path) -> None:
    result = run_cli(cli, ["--today", "2025-12-20", "validate", str(manifests), "--output", "json"])
    assert result.exit_code == 0, result.output
    found = {(d["severity"], d["path"], d["line"]) for d in json.loads(result.output)["diagnostics"]}
    assert found == {("warning", "spec.model", 5), ("warning", "spec.baseModel", 10)}
    result = run_cli(cli, ["--today", "2026-02-06", "validate", str(manifests), "--output", "json"])
    assert result.exit_code == 1
    assert {d["severity"] for d in json.loads(result.output)["diagnostics"]} == {"error"}


def test_a_load_without_a_horizon_judges_no_model(manifests: Path) -> None:
    assert load(manifests).diagnostics == ()
    judged = load(manifests, horizon=Horizon(date(2026, 2, 6)))
    assert not judged.ok and len(judged.diagnostics) == 2


def test_only_a_date_the_catalogue_marks_unconfirmed_is_called_unconfirmed(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        "apiVersion: genaiops/v1\nkind: Model\nmetadata: {name: flash}\n"
        "spec: {publisher: publishers/google/models/gemini-3.5-flash}\n",
        encoding="utf-8",
    )
    assert model_catalogue().models["gemini-3.5-flash"].confirmed
    code, output = validate(tmp_path, "--today", "2027-04-01")
    assert code == 0 and "gemini-3.5-flash is retiring in 48 days" in output, output
    assert "UNCONFIRMED" not in output
