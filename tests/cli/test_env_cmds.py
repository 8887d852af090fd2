"""Environments through the CLI (issue 17): `plan --env prod` against an emulator names the environment's
project and region and shows every value it set with its origin (human, JSON and Markdown); a patch naming
a field that does not exist is a file:line:col error; a command-line flag that contradicts the environment
file is an error while an environment variable is not; `env list` and `env show` print the environments
and the merged manifests with their origins; the local target keeps one emulated cloud per environment, and
a plan saved for one environment is refused for another. The example manifests validate in both."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import Result

from controller.cli.main import cli
from controller.emulator.server import Emulator, running
from controller.model.catalogue import machine_type_problem, region_problem
from tests.helpers import MANIFESTS, ROOT, run_cli

PROD = "manifests/environments/prod.yaml"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running(rest_port=None, storage_port=0) as emu:
        yield emu


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository (origins are relative paths), with no target variables of the worker."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "250")
    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_REGION", "GENAIOPS_ENV", "GENAIOPS_EMULATOR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GENAIOPS_LOCK_BUCKET", "GENAIOPS_PROMPT_STORE"):
        monkeypatch.delenv(name, raising=False)


def plan(emulator: Emulator, *args: str) -> Result:
    return run_cli(cli, ["plan", "manifests", "--emulator", emulator.grpc_target, *args])


def line_of(text: str, needle: str) -> int:
    """The 1-based line of `needle` in the example prod environment file."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_plan_env_prod_names_the_environment_and_shows_each_value_it_set_with_its_origin(emulator: Emulator) -> None:
    result = plan(emulator, "--env", "prod")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    prod = (ROOT / PROD).read_text(encoding="utf-8")
    replicas = line_of(prod, "minReplicas: 2")

    assert lines[0] == f"Target: emulator {emulator.grpc_target} (project acme-genai-prod), environment prod"
    assert (
        f"Environment prod ({PROD}): project acme-genai-prod, region europe-west4, lock bucket "
        "acme-genai-prod-genaiops, prompt store gs://acme-genai-prod-genaiops/prompts" in lines
    )
    start = lines.index("  Endpoint/europe-west4/support-chat:")
    block = lines[start + 1 : start + 6]
    assert any(
        line.split() == ["spec.deployments[primary].minReplicas", "=", "2", "←", f"{PROD}:{replicas}:28"]
        for line in block
    ), block
    assert any(line.split()[:3] == ["spec.deployments[primary].machineType", "=", '"n1-standard-8"'] for line in block)
    assert "  (every other value is from base, the manifests' own files)" in lines
    assert "  # Endpoint/europe-west4/support-chat will be created" in lines
    assert "Plan: 12 to add, 0 to change, 0 to destroy, 0 traffic shifts." in lines  # 6, 1 channel, 5 alerts


def test_without_env_the_plan_is_the_base_one_and_says_nothing_of_environments(emulator: Emulator) -> None:
    result = plan(emulator)
    assert result.exit_code == 0, result.output
    assert "Environment" not in result.output and "←" not in result.output
    assert "  # Endpoint/us-central1/support-chat will be created" in result.output.splitlines()


def test_the_json_plan_carries_the_environment_and_every_override_with_its_address_and_origin(
    emulator: Emulator,
) -> None:
    result = plan(emulator, "--env", "prod", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    environment = document["environment"]

    assert document["target"].endswith("environment prod")
    assert (environment["name"], environment["file"]) == ("prod", PROD)
    assert environment["settings"]["project"] == "acme-genai-prod"
    assert environment["settings"]["region"] == "europe-west4"
    by_path = {(o["address"], o["path"]): o for o in environment["overrides"]}
    replicas = by_path[("Endpoint/europe-west4/support-chat", "spec.deployments[primary].minReplicas")]
    assert replicas["value"] == 2
    assert replicas["origin"].startswith(f"{PROD}:") and replicas["origin"] == (
        f"{replicas['file']}:{replicas['line']}:{replicas['column']}"
    )
    assert by_path[("Model/europe-west4/support-llm", "metadata.labels.env")]["value"] == "prod"
    assert {c["region"] for c in document["changes"] if c["kind"] in ("Endpoint", "Model")} == {"europe-west4"}


def test_the_markdown_plan_folds_the_environment_values_into_a_table(emulator: Emulator) -> None:
    result = plan(emulator, "--env", "prod", "--output", "markdown")
    assert result.exit_code == 0, result.output
    count = len(json.loads(plan(emulator, "--env", "prod", "-o", "json").output)["environment"]["overrides"])
    text = result.output

    assert f"<details><summary>Environment <code>prod</code>: {count} values from {PROD}</summary>" in text
    assert "| Resource | Field | Value | Origin |" in text
    assert "| `Endpoint/europe-west4/support-chat` | `spec.deployments[primary].minReplicas` | `2` |" in text
    assert text.index("</details>") < text.index("| | Resource | Action | Why |")


def test_genaiops_env_selects_the_environment_like_the_flag(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENAIOPS_ENV", "dev")
    result = plan(emulator)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith("(project acme-genai-dev), environment dev")
    assert "  # Endpoint/us-central1/support-chat will be created" in result.output.splitlines()


def test_a_command_line_flag_that_contradicts_the_environment_file_is_an_error(emulator: Emulator) -> None:
    result = plan(emulator, "--env", "prod", "--project", "someone-else")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: --project someone-else contradicts --env prod: {PROD} sets project: acme-genai-prod. "
        "Drop --project, or change the environment file"
    )
    region = plan(emulator, "--env", "prod", "--region", "us-east1")
    assert region.exit_code == 1 and "--region us-east1 contradicts --env prod" in region.output
    assert "Traceback" not in result.output + region.output


def test_a_flag_that_agrees_with_the_file_is_fine_and_environment_variables_yield_to_the_file(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    same = plan(emulator, "--env", "prod", "--project", "acme-genai-prod", "--region", "europe-west4")
    assert same.exit_code == 0, same.output
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "someone-else")
    monkeypatch.setenv("GOOGLE_CLOUD_REGION", "us-east1")
    result = plan(emulator, "--env", "prod")
    assert result.exit_code == 0, result.output
    assert "(project acme-genai-prod), environment prod" in result.output.splitlines()[0]
    assert "  # Endpoint/europe-west4/support-chat will be created" in result.output.splitlines()


BASE = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: llm}
spec:
  upload:
    artifactUri: gs://emulator-models/llm/v1
    servingContainer: {imageUri: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest}
---
apiVersion: genaiops/v1
kind: Endpoint
metadata: {name: chat}
spec:
  deployments: [{name: primary, model: llm, machineType: n1-standard-2}]
  traffic: {primary: 100}
"""


def environment(name: str, patch: str = "") -> str:
    body = f"""\
    apiVersion: genaiops/v1
    kind: Environment
    metadata: {{name: {name}}}
    spec:
      project: acme-genai-{name}
      labels: {{env: {name}}}
    """
    return textwrap.dedent(body) + patch


def tree(tmp_path: Path, *, prod_patch: str = "") -> Path:
    root = tmp_path / "manifests"
    (root / "environments").mkdir(parents=True)
    (root / "base.yaml").write_text(BASE, encoding="utf-8")
    (root / "environments" / "dev.yaml").write_text(environment("dev"), encoding="utf-8")
    (root / "environments" / "prod.yaml").write_text(environment("prod", prod_patch), encoding="utf-8")
    return root


def test_a_patch_naming_a_field_that_does_not_exist_fails_the_plan_at_its_line_and_column(tmp_path: Path) -> None:
    patch = """\
  patches:
    - target: {kind: Endpoint, name: chat}
      patch:
        spec:
          deployments:
            - {name: primary, minReplica: 2}
"""
    root = tree(tmp_path, prod_patch=patch)
    result = run_cli(cli, ["plan", str(root), "--env", "prod", "--target", "local", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 1
    where = f"{root / 'environments' / 'prod.yaml'}:12:31"
    assert f"{where} spec.deployments[0].minReplica: unknown field 'minReplica'; did you mean 'minReplicas'?" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not (tmp_path / "s").exists()  # nothing was opened from bad input


def test_an_unknown_environment_is_an_error_that_lists_the_known_ones(tmp_path: Path) -> None:
    root = tree(tmp_path)
    result = run_cli(cli, ["plan", str(root), "--env", "prd", "--target", "local", "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert "unknown environment 'prd'; did you mean 'prod'? (have: dev, prod)" in result.output


def test_the_local_target_keeps_each_environment_in_its_own_state_directory(tmp_path: Path) -> None:
    root, state = tree(tmp_path), tmp_path / "state"
    local = ["--target", "local", "--state-dir", str(state)]
    applied = run_cli(
        cli, ["apply", str(root), "--env", "dev", *local, "--auto-approve", "--audit-log", str(tmp_path / "a.log")]
    )
    assert applied.exit_code == 0, applied.output
    assert (state / "dev" / "state.json").is_file() and not (state / "prod").exists()

    dev = run_cli(cli, ["plan", str(root), "--env", "dev", *local, "--detailed-exitcode"])
    prod = run_cli(cli, ["plan", str(root), "--env", "prod", *local, "--detailed-exitcode"])
    assert dev.exit_code == 0, dev.output  # dev's emulated cloud has it all
    assert prod.exit_code == 2, prod.output  # prod's is another, still empty
    assert f"Target: local emulator ({state / 'prod' / 'state.json'}), environment prod" in prod.output


def test_a_plan_saved_for_one_environment_is_refused_for_another(tmp_path: Path) -> None:
    root, saved = tree(tmp_path), tmp_path / "prod.plan"
    local = ["--target", "local", "--state-dir", str(tmp_path / "state")]
    made = run_cli(cli, ["plan", str(root), "--env", "prod", *local, "--out", str(saved)])
    assert made.exit_code == 0, made.output

    other = run_cli(cli, ["apply", str(saved), "--env", "dev", *local, "--audit-log", str(tmp_path / "a.log")])
    assert other.exit_code == 1
    assert "the saved plan is for local emulator" in other.output and "environment prod, not" in other.output
    assert "environment dev" in other.output
    none = run_cli(cli, ["apply", str(saved), *local, "--audit-log", str(tmp_path / "a.log")])
    assert none.exit_code == 1 and "the saved plan is for" in none.output


def test_a_plan_saved_for_an_environment_applies_from_its_recorded_settings_without_the_manifests(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, saved = tree(tmp_path), tmp_path / "prod.plan"
    target = ["--emulator", emulator.grpc_target]
    made = run_cli(cli, ["plan", str(root), "--env", "prod", *target, "--out", str(saved)])
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path / "manifests" / "environments")  # no manifests/ here: the plan says it all

    applied = run_cli(cli, ["apply", str(saved), "--env", "prod", *target, "--audit-log", str(tmp_path / "a.log")])
    assert applied.exit_code == 0, applied.output
    endpoint = emulator.endpoint_client().get_endpoint(
        name="projects/acme-genai-prod/locations/us-central1/endpoints/chat"
    )
    assert endpoint.labels["env"] == "prod"


def test_env_list_names_each_environment_with_its_file_settings_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_cli(cli, ["env", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(
        "Environment dev (manifests/environments/dev.yaml): project acme-genai-dev, region us-central1"
    )
    document = json.loads(run_cli(cli, ["env", "list", "-o", "json"]).output)
    assert [e["name"] for e in document["environments"]] == ["dev", "prod"]
    prod = document["environments"][1]
    assert prod["file"] == PROD and prod["settings"]["region"] == "europe-west4"
    assert prod["values"] > 0 and prod["problems"] == 0


def test_env_show_prints_the_merged_manifest_with_each_value_annotated_with_its_origin() -> None:
    result = run_cli(cli, ["env", "show", "prod", "Endpoint/support-chat"])
    assert result.exit_code == 0, result.output
    prod = (ROOT / PROD).read_text(encoding="utf-8")
    base = (MANIFESTS / "endpoints.yaml").read_text(encoding="utf-8")
    lines = [line.split() for line in result.output.splitlines()]

    replicas = f"{PROD}:{line_of(prod, 'minReplicas: 2')}:28"
    assert ["minReplicas:", "2", "#", "prod", replicas] in lines
    assert [
        "-",
        "name:",
        "primary",
        "#",
        "base",
        f"manifests/endpoints.yaml:{line_of(base, '- name: primary')}:13",
    ] in (lines)
    assert [
        "region:",
        "europe-west4",
        "#",
        "prod",
        f"{PROD}:{line_of(prod, 'target: {kind: Endpoint}') + 1}:30",
    ] in lines
    documents = list(yaml.safe_load_all(result.output))
    assert documents[-1]["spec"]["deployments"][0]["minReplicas"] == 2  # the output is YAML


def test_env_show_json_gives_the_values_and_the_origin_of_each_field() -> None:
    result = run_cli(cli, ["env", "show", "dev", "--output", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    chat = next(m for m in document["manifests"] if (m["kind"], m["name"]) == ("Endpoint", "support-chat"))

    assert chat["manifest"]["spec"]["deployments"][0]["machineType"] == "e2-standard-2"
    assert chat["origins"]["spec.deployments[0].machineType"]["source"] == "dev"
    assert chat["origins"]["spec.deployments[0].model"]["source"] == "base"
    assert chat["origins"]["spec.deployments[0].model"]["origin"].startswith("manifests/endpoints.yaml:")
    flash = next(m for m in document["manifests"] if m["name"] == "gemini-flash")
    assert flash["origins"]["spec.region"]["source"] == "dev"  # the environment's region, for a model naming none


def test_env_show_of_an_unknown_manifest_or_a_broken_environment_exits_1(tmp_path: Path) -> None:
    unknown = run_cli(cli, ["env", "show", "prod", "Endpoint/support-caht"])
    assert unknown.exit_code == 1
    assert "no manifest Endpoint/support-caht under manifests; did you mean 'Endpoint/support-chat'?" in (
        unknown.output
    )
    root = tree(
        tmp_path, prod_patch="  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: {spek: {}}\n"
    )
    broken = run_cli(cli, ["env", "show", "prod", "-f", str(root)])
    assert broken.exit_code == 1 and "prod.yaml:9:" in broken.output and "spek" in broken.output


def test_the_example_manifests_validate_in_every_environment() -> None:
    result = run_cli(cli, ["validate", "manifests"])
    assert result.exit_code == 0, result.output
    assert "2 environments checked (dev, prod)" in result.output


def test_the_example_environments_match_the_schema_and_use_only_catalogue_values() -> None:
    combined = json.loads((ROOT / "schemas" / "genaiops.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(combined)
    for path in sorted((MANIFESTS / "environments").glob("*.yaml")):
        (document,) = yaml.safe_load_all(path.read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(document)), path
        assert region_problem(document["spec"]["region"]) is None
        for patch in document["spec"].get("patches", []):
            for deployment in patch["patch"].get("spec", {}).get("deployments", []):
                assert machine_type_problem(deployment.get("machineType", "n1-standard-4")) is None


def test_the_gitops_workflow_plans_applies_and_gates_each_environment_with_env() -> None:
    (workflow,) = yaml.safe_load_all((ROOT / ".github" / "workflows" / "genaiops-gitops.yml").read_text("utf-8"))
    jobs = workflow["jobs"]
    envs = {entry["environment"]: entry["env"] for entry in jobs["plan"]["strategy"]["matrix"]["include"]}

    assert envs == {"dev": "dev", "production": "prod"}
    assert all((MANIFESTS / "environments" / f"{env}.yaml").is_file() for env in envs.values())
    assert jobs["plan"]["env"]["GENAIOPS_ENV"] == "${{ matrix.env }}"
    applied = (jobs["apply-dev"]["env"]["GENAIOPS_ENV"], jobs["apply-production"]["env"]["GENAIOPS_ENV"])
    assert applied == (envs["dev"], envs["production"])
    for name in ("plan", "apply-dev", "apply-production"):
        calls = [
            line.strip()
            for step in jobs[name]["steps"]
            for line in step.get("run", "").splitlines()
            if line.strip().startswith("genaiops ")
        ]
        assert calls and all('--env "$GENAIOPS_ENV"' in call for call in calls), (name, calls)
