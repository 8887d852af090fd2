"""Environments in the loader (issue 17): an Environment's labels, region, budget and patches merged over the
base manifests before validation, with every value's origin; the errors an environment can make, each at
its file:line:col; `validate` checking the base and every environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.cli.main import cli
from controller.diagnostics import Diagnostic
from controller.loader import LoadResult, load, validate_environments
from controller.model import Budget, Endpoint, Model
from tests.helpers import run_cli

BASE = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: llm}
spec:
  upload:
    artifactUri: gs://models/llm/v1
    servingContainer: {imageUri: us-docker.pkg.dev/vertex-ai/prediction/pytorch-cpu.2-1:latest}
---
apiVersion: genaiops/v1
kind: Endpoint
metadata:
  name: chat
  labels: {team: support}
spec:
  deployments:
    - {name: canary, model: llm, machineType: n1-standard-4, minReplicas: 1, maxReplicas: 1}
    - {name: primary, model: llm, machineType: n1-standard-4, minReplicas: 1, maxReplicas: 3}
  traffic: {primary: 90, canary: 10}
  rollout:
    strategy: canary
    steps: [{weight: 20}, {weight: 50}]
"""

HEADER = "apiVersion: genaiops/v1\nkind: Environment\nmetadata: {{name: {name}}}\nspec:\n"


def tree(tmp_path: Path, *envs: tuple[str, str], base: str = BASE) -> Path:
    """A manifests root with `base.yaml` and `environments/<name>.yaml` for each (name, spec body)."""
    (tmp_path / "base.yaml").write_text(base, encoding="utf-8")
    (tmp_path / "environments").mkdir(exist_ok=True)
    for name, body in envs:
        (tmp_path / "environments" / f"{name}.yaml").write_text(HEADER.format(name=name) + body, encoding="utf-8")
    return tmp_path


def env_file(root: Path, name: str = "prod") -> str:
    return str(root / "environments" / f"{name}.yaml")


def endpoint(result: LoadResult) -> Endpoint:
    found = [i.manifest for i in result.manifests if isinstance(i.manifest, Endpoint)]
    assert len(found) == 1, result.diagnostics
    return found[0]


def rendered(diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> list[str]:
    return [d.render() for d in diagnostics]


PATCH_PRIMARY = """\
  patches:
    - target: {kind: Endpoint, name: chat}
      patch:
        spec:
          deployments:
            - name: primary
"""


def test_a_patch_merges_a_named_list_item_key_by_key_and_keeps_the_rest(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", PATCH_PRIMARY + "              minReplicas: 2\n"))
    result = load(root, env="prod")
    assert result.ok, rendered(result.diagnostics)
    deployments = {d.name: d for d in endpoint(result).spec.deployments}
    assert (deployments["primary"].min_replicas, deployments["primary"].max_replicas) == (2, 3)
    assert deployments["canary"].min_replicas == 1
    assert [d.name for d in endpoint(result).spec.deployments] == ["canary", "primary"]
    assert endpoint(result).metadata.labels == {"team": "support"}


def test_an_unknown_name_in_a_named_list_appends_an_item(tmp_path: Path) -> None:
    body = PATCH_PRIMARY.replace("name: primary", "name: shadow") + (
        "              model: llm\n              machineType: n1-standard-8\n"
        "              minReplicas: 1\n              maxReplicas: 1\n"
    )
    result = load(tree(tmp_path, ("prod", body)), env="prod")
    assert result.ok, rendered(result.diagnostics)
    assert [d.name for d in endpoint(result).spec.deployments] == ["canary", "primary", "shadow"]
    assert endpoint(result).spec.deployments[2].machine_type == "n1-standard-8"


def test_dollar_patch_delete_removes_an_item_and_null_removes_a_key(tmp_path: Path) -> None:
    body = PATCH_PRIMARY.replace("name: primary", "{name: canary, $patch: delete}") + (
        "          traffic: {primary: 100, canary: null}\n"
    )
    result = load(tree(tmp_path, ("prod", body)), env="prod")
    assert result.ok, rendered(result.diagnostics)
    assert [d.name for d in endpoint(result).spec.deployments] == ["primary"]
    assert endpoint(result).spec.traffic == {"primary": 100}


def test_a_deletion_shifts_the_positions_of_the_items_after_it(tmp_path: Path) -> None:
    body = PATCH_PRIMARY.replace("- name: primary", "- {name: canary, $patch: delete}\n            - name: primary") + (
        "              model: null\n          traffic: {primary: 100, canary: null}\n"
    )
    root = tree(tmp_path, ("prod", body))
    result = load(root, env="prod")
    # The base item primary (line 17 of base.yaml) is now deployments[0]; its missing model is reported there.
    assert rendered(result.diagnostics) == [
        f"{root / 'base.yaml'}:17:7 spec.deployments[0]: missing required field 'model'",
    ]


def test_other_lists_and_scalars_replace(tmp_path: Path) -> None:
    body = (
        "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch:\n"
        "        spec:\n          rollout: {strategy: canary, steps: [{weight: 10}]}\n"
    )
    result = load(tree(tmp_path, ("prod", body)), env="prod")
    assert result.ok, rendered(result.diagnostics)
    assert [s.weight for s in endpoint(result).spec.rollout.steps] == [10]


def test_an_unknown_field_in_a_patch_is_an_error_at_the_environment_files_line_and_column(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", PATCH_PRIMARY + "              minReplica: 2\n"))
    result = load(root, env="prod")
    assert rendered(result.diagnostics) == [
        f"{env_file(root)}:11:15 spec.deployments[1].minReplica: unknown field 'minReplica'; "
        "did you mean 'minReplicas'?"
    ]
    assert not result.ok


def test_a_wrong_value_in_a_patch_is_reported_in_the_environment_file(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", PATCH_PRIMARY + '              minReplicas: "2"\n'))
    (line,) = rendered(load(root, env="prod").diagnostics)
    assert line.startswith(f"{env_file(root)}:11:28 spec.deployments[1].minReplicas: expected a whole number")


def test_a_check_on_an_overridden_value_names_the_environment_file(tmp_path: Path) -> None:
    body = "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: {spec: {traffic: {primary: 80}}}\n"
    root = tree(tmp_path, ("prod", body))
    (line,) = rendered(load(root, env="prod").diagnostics)
    assert line == f"{root / 'base.yaml'}:18:12 spec.traffic: traffic must sum to 100 (got 90)"
    body = "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: {spec: {traffic: [80]}}\n"
    (line,) = rendered(load(tree(tmp_path, ("prod", body)), env="prod").diagnostics)
    assert line == f"{env_file(tmp_path)}:7:31 spec.traffic: expected a mapping (got [80])"


def test_overrides_record_each_leaf_value_with_its_origin(tmp_path: Path) -> None:
    body = PATCH_PRIMARY + "              minReplicas: 2\n          traffic: {primary: 100, canary: null}\n"
    body = body.replace("- name: primary", "- {name: canary, $patch: delete}\n            - name: primary")
    root = tree(tmp_path, ("prod", body))
    result = load(root, env="prod")
    assert result.ok, rendered(result.diagnostics)
    found = {(o.kind, o.name, o.path): (o.value, o.origin) for o in result.overrides}
    file = env_file(root)
    assert found == {
        ("Endpoint", "chat", "spec.deployments[canary]"): (None, f"{file}:10:15"),
        ("Endpoint", "chat", "spec.deployments[primary].minReplicas"): (2, f"{file}:12:28"),
        ("Endpoint", "chat", "spec.traffic.primary"): (100, f"{file}:13:30"),
        ("Endpoint", "chat", "spec.traffic.canary"): (None, f"{file}:13:43"),
    }


def test_a_replaced_list_is_one_override(tmp_path: Path) -> None:
    body = (
        "  patches:\n    - target: {kind: Endpoint, name: chat}\n"
        "      patch: {spec: {rollout: {steps: [{weight: 5}]}}}\n"
    )
    result = load(tree(tmp_path, ("prod", body)), env="prod")
    assert [(o.path, o.value) for o in result.overrides] == [("spec.rollout.steps", [{"weight": 5}])]


def test_environment_labels_are_added_to_every_manifest_and_recorded(tmp_path: Path) -> None:
    body = "  labels: {env: prod, team: platform}\n"
    root = tree(tmp_path, ("prod", body))
    result = load(root, env="prod")
    assert result.ok, rendered(result.diagnostics)
    labels = {i.label: i.manifest.metadata.labels for i in result.manifests}
    assert labels == {
        "Model/llm": {"env": "prod", "team": "platform"},
        "Endpoint/chat": {"env": "prod", "team": "platform"},
    }
    origins = {(o.kind, o.path, o.origin) for o in result.overrides}
    assert ("Model", "metadata.labels.env", f"{env_file(root)}:5:17") in origins
    assert ("Endpoint", "metadata.labels.team", f"{env_file(root)}:5:29") in origins


def test_a_patch_label_wins_over_the_environment_label(tmp_path: Path) -> None:
    body = (
        "  labels: {env: prod}\n  patches:\n    - target: {kind: Model}\n"
        "      patch: {metadata: {labels: {env: gold}}}\n"
    )
    result = load(tree(tmp_path, ("prod", body)), env="prod")
    model = next(i.manifest for i in result.manifests if isinstance(i.manifest, Model))
    assert model.metadata.labels == {"env": "gold"}
    assert [o.value for o in result.overrides if o.kind == "Model"] == ["gold"]


def test_the_environment_region_replaces_the_default_region(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", "  region: europe-west4\n"))
    result = load(root, default_region="us-east1", env="prod")
    assert result.ok, rendered(result.diagnostics)
    regions = {i.label: getattr(i.manifest.spec, "region", None) for i in result.manifests}
    assert regions == {"Model/llm": "europe-west4", "Endpoint/chat": "europe-west4"}
    assert {(o.kind, o.path, o.value, o.origin) for o in result.overrides} == {
        ("Model", "spec.region", "europe-west4", f"{env_file(root)}:5:11"),
        ("Endpoint", "spec.region", "europe-west4", f"{env_file(root)}:5:11"),
    }
    assert {getattr(i.manifest.spec, "region", None) for i in load(root, default_region="us-east1").manifests} == {
        "us-east1"
    }


def test_the_environment_budget_becomes_a_budget_manifest_in_the_environment_file(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", "  budget:\n    limits: {serving: 100}\n"))
    result = load(root, env="prod")
    assert result.ok, rendered(result.diagnostics)
    (budget,) = [i for i in result.manifests if isinstance(i.manifest, Budget)]
    assert isinstance(budget.manifest, Budget)
    assert budget.manifest.metadata.name == "prod-budget"
    assert budget.manifest.spec.limits.serving == 100
    assert budget.file == env_file(root)
    assert budget.positions.of_value(("spec", "limits", "serving")) == (6, 23)
    assert budget.positions.of_value(()) == (6, 5)


def test_a_load_without_env_leaves_environments_out_of_the_manifests(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", PATCH_PRIMARY + "              minReplicas: 2\n"), ("dev", "  labels: {env: dev}\n"))
    result = load(root)
    assert result.ok, rendered(result.diagnostics)
    assert [i.label for i in result.manifests] == ["Model/llm", "Endpoint/chat"]
    assert sorted(e.metadata.name for e in result.environments) == ["dev", "prod"]
    assert result.environment is None
    assert result.overrides == ()
    assert endpoint(result).spec.deployments[1].min_replicas == 1
    assert endpoint(load(root, env="prod")).spec.deployments[1].min_replicas == 2
    assert endpoint(load(root, env="dev")).spec.deployments[1].min_replicas == 1


def test_a_kind_wide_patch_applies_to_every_manifest_of_the_kind(tmp_path: Path) -> None:
    body = "  patches:\n    - target: {kind: Endpoint}\n      patch: {metadata: {annotations: {tier: gold}}}\n"
    base = BASE + "---\n" + BASE.split("---\n")[1].replace("name: chat", "name: chat2")
    result = load(tree(tmp_path, ("prod", body), base=base), env="prod")
    assert result.ok, rendered(result.diagnostics)
    annotated = [i.manifest.metadata.annotations for i in result.manifests if isinstance(i.manifest, Endpoint)]
    assert annotated == [{"tier": "gold"}, {"tier": "gold"}]


ERROR_CASES = [
    pytest.param(
        "  patches:\n    - target: {kind: Endpoint, name: caht}\n      patch: {spec: {}}\n",
        "6:38 spec.patches[0].target.name: patch target Endpoint/caht matches no manifest; did you mean 'chat'? "
        "(Endpoint manifests: chat)",
        id="target-name-unknown",
    ),
    pytest.param(
        "  patches:\n    - target: {kind: Prompt}\n      patch: {spec: {}}\n",
        "6:22 spec.patches[0].target.kind: patch target matches no manifest: there is no Prompt manifest",
        id="target-kind-absent",
    ),
    pytest.param(
        "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: {kind: Model}\n",
        "7:21 spec.patches[0].patch.kind: a patch cannot change kind (the manifest keeps 'Endpoint')",
        id="kind-changed",
    ),
    pytest.param(
        "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: {apiVersion: genaiops/v2}\n",
        "7:27 spec.patches[0].patch.apiVersion: a patch cannot change apiVersion (the manifest keeps 'genaiops/v1')",
        id="api-version-changed",
    ),
    pytest.param(
        "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: {metadata: {name: talk}}\n",
        "7:32 spec.patches[0].patch.metadata.name: a patch cannot change metadata.name (the manifest keeps 'chat')",
        id="name-changed",
    ),
    pytest.param(
        "  patches:\n    - target: {kind: Endpoint}\n      patch: {metadata: {name: chat}}\n",
        "7:32 spec.patches[0].patch.metadata.name: a patch cannot change metadata.name (it would rename every target)",
        id="name-on-a-kind-wide-patch",
    ),
    pytest.param(
        PATCH_PRIMARY.replace("name: primary", "{name: shadow, $patch: delete}"),
        "10:22 spec.patches[0].patch.spec.deployments[0].name: $patch: delete names no item of spec.deployments: "
        "there is no 'shadow' (have: canary, primary)",
        id="delete-unknown-name",
    ),
    pytest.param(
        PATCH_PRIMARY.replace("name: primary", "{name: canary, $patch: replace}"),
        "10:38 spec.patches[0].patch.spec.deployments[0].$patch: $patch must be 'delete' (got 'replace'); other "
        "items merge by name",
        id="directive-not-delete",
    ),
    pytest.param(
        "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: {spec: {rollout: {$patch: delete}}}\n",
        "7:32 spec.patches[0].patch.spec.rollout.$patch: $patch goes only in an item of a list of named items "
        "({name: x, $patch: delete} removes it); to remove a key, set it to null",
        id="directive-in-a-mapping",
    ),
    pytest.param(
        "  patches:\n    - target: {kind: Endpoint, name: chat}\n      patch: [spec]\n",
        "7:14 spec.patches[0].patch: expected a mapping (got ['spec'])",
        id="patch-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("body", "expected"), ERROR_CASES)
def test_an_environment_mistake_is_one_diagnostic_at_its_file_line_and_column(
    tmp_path: Path, body: str, expected: str
) -> None:
    root = tree(tmp_path, ("prod", body))
    result = load(root, env="prod")
    assert rendered(result.diagnostics) == [f"{env_file(root)}:{expected}"]
    assert not result.ok


def test_an_unknown_env_lists_the_environments_found(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", "  labels: {env: prod}\n"), ("dev", "  labels: {env: dev}\n"))
    result = load(root, env="prd")
    assert rendered(result.diagnostics) == [
        f"{root}: unknown environment 'prd'; did you mean 'prod'? (have: dev, prod)"
    ]
    assert result.environment is None
    assert not result.ok


def test_an_env_in_a_tree_without_environments_says_so(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (line,) = rendered(load(root, env="prod").diagnostics)
    assert line == f"{root}: unknown environment 'prod': there is no Environment manifest under {root}"


def test_an_invalid_environment_is_reported_once_not_as_unknown(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", "  regoin: europe-west4\n"))
    (line,) = rendered(load(root, env="prod").diagnostics)
    assert line.startswith(f"{env_file(root)}:5:3 spec.regoin: unknown field 'regoin'")
    assert rendered(load(root).diagnostics) == [line]


def test_two_environments_with_one_name_are_an_error(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", "  labels: {env: prod}\n"))
    (root / "environments" / "prod2.yaml").write_text(HEADER.format(name="prod") + "  labels: {env: p}\n", "utf-8")
    (line,) = rendered(load(root).diagnostics)
    first = f"{env_file(root)}:3"
    assert (
        line == f"{env_file(root, 'prod2')}:3:18 metadata.name: duplicate Environment/prod: first declared at {first}"
    )


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [("Endpoint", True), ("Model", True), ("Environment", False), ("Budget", False)],
)
def test_a_numeric_name_is_allowed_only_on_an_endpoint_or_a_model(tmp_path: Path, kind: str, allowed: bool) -> None:
    spec = {
        "Endpoint": "  region: us-central1\n",
        "Model": "  publisher: publishers/google/models/gemini-2.0-flash\n",
        "Environment": "  labels: {a: b}\n",
        "Budget": "  limits: {serving: 10}\n",
    }[kind]
    (tmp_path / "one.yaml").write_text(
        f"apiVersion: genaiops/v1\nkind: {kind}\nmetadata: {{name: '1234567890'}}\nspec:\n{spec}", encoding="utf-8"
    )
    problems = rendered(load(tmp_path).diagnostics)
    if allowed:
        assert not any("is a number" in p for p in problems), problems
    else:
        assert problems == [
            f"{tmp_path / 'one.yaml'}:3:18 metadata.name: {kind} name '1234567890' is a number: only an imported "
            "Endpoint or Model may be named by the ID Vertex AI generated for it; use lowercase letters, digits "
            "and '-', starting with a letter"
        ]


def test_validate_checks_every_environment_and_prefixes_their_own_problems(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        ("prod", PATCH_PRIMARY + "              minReplica: 2\n"),
        ("dev", "  labels: {env: dev}\n"),
        ("staging", PATCH_PRIMARY.replace("primary", "primary\n              machineType: n9-standard-4")),
    )
    report = validate_environments(root)
    assert report.checked == ("dev", "prod", "staging")
    lines = rendered(report.diagnostics)
    assert lines[0] == (
        f"{env_file(root)}:11:15 spec.deployments[1].minReplica: environment prod: unknown field 'minReplica'; "
        "did you mean 'minReplicas'?"
    )
    assert len(lines) == 2
    assert lines[1].startswith(
        f"{env_file(root, 'staging')}:11:28 spec.deployments[1].machineType: environment staging: "
    )
    assert not report.ok
    assert report.base.ok


def test_validate_does_not_repeat_a_base_problem_for_each_environment(tmp_path: Path) -> None:
    base = BASE.replace("primary: 90", "primary: 80")
    root = tree(tmp_path, ("prod", "  labels: {env: prod}\n"), ("dev", "  labels: {env: dev}\n"), base=base)
    report = validate_environments(root)
    assert rendered(report.diagnostics) == [
        f"{root / 'base.yaml'}:18:12 spec.traffic: traffic must sum to 100 (got 90)"
    ]
    assert report.checked == ("dev", "prod")


def test_validate_env_checks_one_environment_and_an_unknown_one_is_an_error(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", PATCH_PRIMARY + "              minReplica: 2\n"), ("dev", "  labels: {env: dev}\n"))
    assert validate_environments(root, env="dev").ok
    assert validate_environments(root, env="dev").checked == ("dev",)
    unknown = validate_environments(root, env="qa")
    assert rendered(unknown.diagnostics) == [f"{root}: unknown environment 'qa' (have: dev, prod)"]


def test_the_validate_command_says_how_many_environments_it_checked(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", "  labels: {env: prod}\n"), ("dev", "  labels: {env: dev}\n"))
    result = run_cli(cli, ["validate", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "All manifests valid: 3 files; 2 environments checked (dev, prod)."
    one = run_cli(cli, ["validate", str(root), "--env", "prod"])
    assert one.output.strip() == "All manifests valid: 3 files; 1 environment checked (prod)."
    bad = run_cli(cli, ["validate", str(root), "--env", "qa"])
    assert bad.exit_code == 1
    assert "unknown environment 'qa'" in bad.output


def test_the_validate_command_fails_on_a_problem_only_an_environment_has(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", PATCH_PRIMARY + "              minReplica: 2\n"))
    result = run_cli(cli, ["validate", str(root), "--output", "json"])
    assert result.exit_code == 1
    assert '"environments": [\n    "prod"\n  ]' in result.output
    assert "environment prod: unknown field 'minReplica'" in result.output


KEYS = ["spec", "metadata", "deployments", "traffic", "name", "$patch", "minReplicas", "labels", "rollout", "steps"]
patch_values = st.recursive(
    st.one_of(st.none(), st.integers(-3, 200), st.sampled_from(["primary", "canary", "delete", "x", ""])),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
        st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["primary", "canary", "new"])},
                optional={"$patch": st.sampled_from(["delete", "merge"]), "minReplicas": children},
            ),
            max_size=3,
        ),
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(
    patch=st.dictionaries(st.sampled_from(["spec", "metadata"]), patch_values, max_size=2),
    kind=st.sampled_from(["Endpoint", "Model"]),
    labels=st.booleans(),
)
def test_any_patch_yields_a_load_result_never_an_exception(
    tmp_path_factory: pytest.TempPathFactory, patch: object, kind: str, labels: bool
) -> None:
    spec: dict[str, object] = {"labels": {"env": "prod"}} if labels else {}
    spec["patches"] = [{"target": {"kind": kind}, "patch": patch}]
    root = tree(tmp_path_factory.mktemp("fuzz"), ("prod", textwrap.indent(yaml.safe_dump(spec), "  ")))
    report = validate_environments(root)
    for diagnostic in report.diagnostics:
        assert diagnostic.render()
    result = load(root, env="prod")
    assert all(d.render() for d in result.diagnostics)
    assert load(root).ok == report.base.ok


def test_the_selected_environments_file_is_known_even_when_it_sets_no_value(tmp_path: Path) -> None:
    root = tree(tmp_path, ("prod", "  project: acme-genai-prod\n"))
    result = load(root, env="prod")
    assert result.ok, rendered(result.diagnostics)
    assert result.overrides == ()
    assert result.environment_file == env_file(root)
    assert load(root).environment_file == ""


ALERT_BASE = (
    BASE
    + """---
apiVersion: genaiops/v1
kind: Alert
metadata: {name: chat-errors}
spec:
  target: {endpoint: chat}
  metric: error-rate
  comparison: ">"
  threshold: 5%
"""
)


def test_an_environment_patches_an_alert_like_any_other_kind(tmp_path: Path) -> None:
    body = """\
  patches:
    - target: {kind: Alert, name: chat-errors}
      patch: {spec: {threshold: 1%, severity: critical}}
"""
    root = tree(tmp_path, ("prod", body), base=ALERT_BASE)
    result = load(root, env="prod")
    assert result.ok, rendered(result.diagnostics)
    alert = next(i.manifest for i in result.manifests if i.manifest.kind == "Alert")
    assert (alert.spec.threshold, alert.spec.severity) == ("1%", "critical")  # type: ignore[union-attr]
    assert {o.path for o in result.overrides if o.kind == "Alert"} == {"spec.threshold", "spec.severity"}
