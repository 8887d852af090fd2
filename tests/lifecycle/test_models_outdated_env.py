"""`genaiops models outdated` over environments: like `validate`, it judges the base manifests and each
Environment's merge of them. A model an environment's patch sets is listed once, at its line in the
environment file and naming the environment, and `--write` edits it there (the base file stays byte for
byte); a base file's value every environment inherits is listed and written once; `--env NAME` (or
GENAIOPS_ENV) judges only NAME's merge; an unknown environment is an error. Each test names its day."""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import cli
from controller.engine.model_upgrades import Variant, outdated_across
from controller.loader import load
from controller.model.catalogue.lifecycle import Horizon, Stage
from tests.helpers import run_cli

DAY = "2026-01-10"  # gemini-2.0-flash retires 2026-02-05: 26 days left; gemini-2.5-flash is current
OLD = "publishers/google/models/gemini-2.0-flash"
NEW = "publishers/google/models/gemini-2.5-flash"

PROMPT = textwrap.dedent(
    f"""\
    apiVersion: genaiops/v1
    kind: Prompt
    metadata: {{name: answer}}
    spec:
      model: {NEW}
      template: "Hi {{{{ name }}}}"
      variables: {{name: {{type: string}}}}
    """
)
MODEL = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: flash}
spec:
  publisher: publishers/google/models/gemini-2.0-flash-001   # every environment inherits this
"""
PROD = f"""\
apiVersion: genaiops/v1
kind: Environment
metadata: {{name: prod}}
spec:
  region: europe-west4
  patches:
    - target: {{kind: Prompt, name: answer}}
      patch:
        spec:
          model: {OLD}   # pinned for prod
"""
DEV = """\
apiVersion: genaiops/v1
kind: Environment
metadata: {name: dev}
spec:
  labels: {env: dev}
"""


def _line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    (root / "environments").mkdir(parents=True)
    (root / "prompts.yaml").write_text(PROMPT, encoding="utf-8")
    (root / "environments" / "prod.yaml").write_text(PROD, encoding="utf-8")
    (root / "environments" / "dev.yaml").write_text(DEV, encoding="utf-8")
    return root


def _texts(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.yaml"))}


def _outdated(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(root), "--output", "json", *args])
    assert result.exit_code in (0, 2), result.output
    return result.exit_code, json.loads(result.output)


def test_a_model_an_environment_patch_sets_is_listed_once_at_the_environment_files_line(manifests: Path) -> None:
    code, document = _outdated(manifests)
    assert code == 2
    assert (document["base"], document["environments"]) == (True, ["dev", "prod"])
    prod = manifests / "environments" / "prod.yaml"
    where = [
        (r["file"], r["line"], r["column"], r["environment"], r["manifest"], r["path"]) for r in document["outdated"]
    ]
    assert where == [(str(prod), _line_of(PROD, OLD), 18, "prod", "Prompt/answer", "spec.model")]
    row = document["outdated"][0]
    assert (row["model"], row["stage"], row["days_left"], row["successor"]) == (
        "gemini-2.0-flash",
        "retiring",
        26,
        "gemini-2.5-flash",
    )


def test_the_human_report_names_the_environment(manifests: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests)])
    assert result.exit_code == 2, result.output
    assert f"prod.yaml:{_line_of(PROD, OLD)}:18" in result.output
    assert "ENV" in result.output and " prod " in result.output
    assert "Judged the base and environments dev, prod." in result.output


def test_write_edits_only_the_environment_file_and_then_validate_passes(manifests: Path) -> None:
    before = _texts(manifests)
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    assert result.exit_code == 2, result.output
    after = _texts(manifests)
    assert after == {**before, "environments/prod.yaml": PROD.replace(OLD, NEW)}
    assert "spec.model: gemini-2.0-flash -> gemini-2.5-flash (environment prod)" in result.output

    validated = run_cli(cli, ["--today", DAY, "validate", str(manifests)])
    assert validated.exit_code == 0, validated.output
    again = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    assert again.exit_code == 0, again.output
    assert _texts(manifests) == after


def test_a_base_value_two_environments_inherit_is_listed_and_written_once(manifests: Path) -> None:
    (manifests / "models.yaml").write_text(MODEL, encoding="utf-8")
    code, document = _outdated(manifests)
    assert code == 2
    rows = [(Path(r["file"]).name, r["manifest"], r["environment"]) for r in document["outdated"]]
    assert rows == [("prod.yaml", "Prompt/answer", "prod"), ("models.yaml", "Model/flash", None)]  # by file path

    before = _texts(manifests)
    code, document = _outdated(manifests, "--write")
    assert code == 2
    assert len(document["written"]) == 2
    assert _texts(manifests) == {
        **before,
        "models.yaml": MODEL.replace("gemini-2.0-flash-001", "gemini-2.5-flash"),
        "environments/prod.yaml": PROD.replace(OLD, NEW),
    }
    assert _outdated(manifests)[0] == 0


def test_env_judges_only_that_environments_merge(manifests: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, document = _outdated(manifests, "--env", "dev")
    assert (code, document["outdated"], document["base"], document["environments"]) == (0, [], False, ["dev"])
    code, document = _outdated(manifests, "--env", "prod")
    assert code == 2 and [r["environment"] for r in document["outdated"]] == ["prod"]

    monkeypatch.setenv("GENAIOPS_ENV", "dev")
    before = _texts(manifests)
    code, document = _outdated(manifests, "--write")
    assert (code, document["environments"], document["written"]) == (0, ["dev"], [])
    assert _texts(manifests) == before


def test_an_unknown_environment_is_an_error(manifests: Path) -> None:
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--env", "qa"])
    assert result.exit_code == 1
    assert "unknown environment 'qa'" in result.output and "dev, prod" in result.output


def test_a_patch_value_every_prompt_takes_is_listed_per_prompt_and_written_once(manifests: Path) -> None:
    (manifests / "more.yaml").write_text(PROMPT.replace("name: answer", "name: triage"), encoding="utf-8")
    prod = manifests / "environments" / "prod.yaml"
    prod.write_text(PROD.replace("{kind: Prompt, name: answer}", "{kind: Prompt}"), encoding="utf-8")
    code, document = _outdated(manifests, "--write")
    assert code == 2
    assert [(r["manifest"], r["environment"]) for r in document["outdated"]] == [
        ("Prompt/answer", "prod"),
        ("Prompt/triage", "prod"),
    ]
    assert len(document["written"]) == 1
    assert prod.read_text(encoding="utf-8") == PROD.replace("{kind: Prompt, name: answer}", "{kind: Prompt}").replace(
        OLD, NEW
    )


def test_each_variant_is_judged_with_its_own_model_lifecycle_rows_as_validate_judges_it(tmp_path: Path) -> None:
    base, extended = tmp_path / "base", tmp_path / "extended"
    for root in (base, extended):
        root.mkdir()
        (root / "prompts.yaml").write_text(PROMPT.replace(NEW, OLD), encoding="utf-8")
    (extended / "lifecycle.yaml").write_text(
        "apiVersion: genaiops/v1\nkind: ModelLifecycle\nmetadata: {name: ours}\nspec:\n  models:\n"
        "    - {model: gemini-2.0-flash, retires: '2026-12-01', successor: gemini-2.5-flash, source: ours, "
        "asOf: '2026-01-01'}\n",
        encoding="utf-8",
    )
    variants = [Variant(None, load(base).manifests), Variant("extended", load(extended).manifests)]
    rows = outdated_across(variants, Horizon(date.fromisoformat(DAY)))
    assert [(Path(r.file).parent.name, r.manifest, r.stage, r.days_left) for r in rows] == [
        ("base", "Prompt/answer", Stage.RETIRING, 26)  # the extended variant's own row says current
    ]
