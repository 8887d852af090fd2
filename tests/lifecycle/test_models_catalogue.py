"""`genaiops models catalogue`: the dated catalogue judged on a day, with a project's ModelLifecycle rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli.main import cli
from controller.model.catalogue.lifecycle import model_catalogue
from tests.helpers import run_cli

LIFECYCLE = """\
apiVersion: genaiops/v1
kind: ModelLifecycle
metadata: {name: ours}
spec:
  models:
    - model: gemini-3.5-flash
      retires: 2027-01-15
      successor: gemini-3.8-flash
      source: https://example.com/our-account-team
      asOf: 2026-12-01
"""


def test_every_bundled_row_is_listed_with_its_stage_on_the_day() -> None:
    result = run_cli(cli, ["--today", "2026-12-02", "models", "catalogue", "-o", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["today"], document["catalogue"]) == ("2026-12-02", model_catalogue().read_on)
    rows = {row["model"]: row for row in document["models"]}
    assert set(rows) == set(model_catalogue().models)
    assert rows["gemini-2.0-flash-001"]["stage"] == "retired" and not rows["gemini-2.0-flash-001"]["confirmed"]
    assert rows["gemini-2.0-flash-001"]["successor"] == "gemini-3.8-flash"  # 2.5-flash retired too by then
    assert rows["gemini-3.5-flash"]["stage"] == "current" and rows["gemini-3.5-flash"]["days_left"] == 168
    assert rows["gemini-3.5-flash"]["source"].startswith("https://")


def test_a_project_row_overrides_the_bundled_one_and_names_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide table keeps each model on one line
    (tmp_path / "lifecycle.yaml").write_text(LIFECYCLE, encoding="utf-8")
    result = run_cli(cli, ["--today", "2026-12-02", "models", "catalogue", str(tmp_path), "-o", "json"])
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.output)["models"] if r["model"] == "gemini-3.5-flash")
    assert (row["retires"], row["stage"], row["days_left"]) == ("2027-01-15", "retiring", 44)
    assert row["origin"] == "ModelLifecycle/ours" and row["source"] == "https://example.com/our-account-team"
    human = run_cli(cli, ["--today", "2026-12-02", "models", "catalogue", str(tmp_path)])
    assert "gemini-3.5-flash [ModelLifecycle/ours]" in human.output
    assert "1 retiring" in human.output and "* an unconfirmed date" in human.output
