"""The checked-in JSON Schemas equal what the models generate, and they accept the example manifests."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from controller.cli.main import cli
from controller.model.schema import COMBINED, json_schemas, render
from tests.helpers import ROOT, run_cli

SCHEMAS = ROOT / "schemas"


def test_checked_in_schemas_equal_the_generated_ones() -> None:
    generated = json_schemas()
    on_disk = {p.name for p in SCHEMAS.glob("*.json")}
    assert on_disk == set(generated), "schemas/ has extra or missing files; run `genaiops schema --out schemas/`"
    for name, schema in generated.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == render(schema), (
            f"schemas/{name} is stale; run `genaiops schema --out schemas/`"
        )


def test_schema_check_flag_fails_on_a_stale_copy(tmp_path: Path) -> None:
    ok = run_cli(cli, ["schema", "--out", str(tmp_path)])
    assert ok.exit_code == 0
    assert run_cli(cli, ["schema", "--out", str(tmp_path), "--check"]).exit_code == 0
    (tmp_path / "endpoint.schema.json").write_text("{}\n", encoding="utf-8")
    stale = run_cli(cli, ["schema", "--out", str(tmp_path), "--check"])
    assert stale.exit_code == 1
    assert "endpoint.schema.json" in stale.output


def test_combined_schema_dispatches_on_kind() -> None:
    combined = json_schemas()[COMBINED]
    mapping = combined["discriminator"]["mapping"]
    assert set(mapping) == {
        "Model",
        "Endpoint",
        "Prompt",
        "Dataset",
        "TuningJob",
        "Pipeline",
        "Budget",
        "PriceBook",
        "Environment",
        "Alert",
        "NotificationChannel",
        "ModelLifecycle",
    }


def test_example_manifests_are_valid_against_the_schema() -> None:
    combined = json.loads((SCHEMAS / COMBINED).read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(combined)
    count = 0
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            errors = list(validator.iter_errors(document))
            assert not errors, f"{path}: {errors[0].message}"
            count += 1
    assert count >= 7
