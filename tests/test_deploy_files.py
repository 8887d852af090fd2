"""The files users run genaiops with (Dockerfile, deploy/kubernetes/, the GitHub Actions workflows) parse,
agree with each other, and only call `genaiops` commands and flags the CLI really has."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from controller.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
WORKFLOW = ROOT / ".github" / "workflows" / "genaiops-gitops.yml"
YAML_FILES = sorted([*(ROOT / "deploy").rglob("*.y*ml"), *(ROOT / ".github").rglob("*.y*ml")])
SHELL_OPERATORS = {">", ">>", "2>", "|", "||", "&&", ";", "2>&1"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def kube_objects() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for path in sorted(KUBE.glob("*.yaml")) for doc in documents(path)}


def container() -> dict[str, Any]:
    spec = kube_objects()["Deployment"]["spec"]["template"]["spec"]
    found: dict[str, Any] = spec["containers"][0]
    return found


def workflow() -> dict[Any, Any]:
    (doc,) = documents(WORKFLOW)
    return doc


def dockerfile_instruction(name: str) -> list[str]:
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith(f"{name} ")]
    parsed: list[str] = json.loads(lines[-1].removeprefix(f"{name} "))
    return parsed


def genaiops_invocations() -> Iterator[tuple[str, list[str]]]:
    """(where, argv after `genaiops`) for every call in the Dockerfile, the Deployment and the workflow."""
    yield "Dockerfile CMD", dockerfile_instruction("CMD")
    yield "deployment.yaml args", container()["args"]
    for job_name, job in workflow()["jobs"].items():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                tokens = shlex.split(line.strip())
                if tokens[:1] == ["genaiops"]:
                    end = next((i for i, token in enumerate(tokens) if token in SHELL_OPERATORS), len(tokens))
                    yield f"workflow job {job_name}", tokens[1:end]


def resolve(argv: list[str]) -> click.Command | None:
    ctx = click.Context(cli)
    return cli.get_command(ctx, argv[0])


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_under_deploy_and_github_parses(path: Path) -> None:
    assert documents(path), f"{path} has no documents"


def test_the_kustomization_lists_files_that_exist_and_one_namespace_is_used_throughout() -> None:
    (kustomization,) = documents(KUBE / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (KUBE / resource).is_file(), resource
    namespaced = [doc for kind, doc in kube_objects().items() if kind not in {"Namespace", "Kustomization"}]
    assert {doc["metadata"]["namespace"] for doc in namespaced} == {kustomization["namespace"]}
    assert kube_objects()["Namespace"]["metadata"]["name"] == kustomization["namespace"]


def test_the_deployment_runs_two_replicas_under_the_workload_identity_service_account() -> None:
    objects = kube_objects()
    deployment, account = objects["Deployment"], objects["ServiceAccount"]
    pod = deployment["spec"]["template"]

    assert deployment["spec"]["replicas"] == 2
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_container_has_probes_resources_and_the_cloud_environment() -> None:
    main = container()
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    env = {entry["name"] for entry in main["env"]}

    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["port"] in ports
    assert str(ports["http-metrics"]) == main["args"][main["args"].index("--metrics-port") + 1]
    assert {"GOOGLE_CLOUD_PROJECT", "GENAIOPS_LOCK_BUCKET"} <= env
    assert "--git-url" in main["args"]
    assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True


def test_every_env_reference_in_the_container_args_is_defined() -> None:
    main = container()
    env = {entry["name"] for entry in main["env"]}
    config = kube_objects()["ConfigMap"]["data"]

    for reference in re.findall(r"\$\((\w+)\)", " ".join(main["args"])):
        assert reference in env, reference
    for entry in main["env"]:
        key = entry.get("valueFrom", {}).get("configMapKeyRef", {}).get("key")
        assert key is None or key in config, key


def test_the_metrics_service_selects_the_controller_pods_on_the_metrics_port() -> None:
    objects = kube_objects()
    service, pod = objects["Service"], objects["Deployment"]["spec"]["template"]

    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in {port["name"] for port in container()["ports"]}


def test_the_dockerfile_builds_a_non_root_image_whose_entrypoint_is_genaiops() -> None:
    text = (ROOT / "Dockerfile").read_text()

    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)[-1]
    assert user.split(":")[0] not in {"root", "0"}
    assert dockerfile_instruction("ENTRYPOINT") == ["genaiops"]
    assert dockerfile_instruction("CMD") == ["reconcile", "--watch", "--metrics-port", "9090", "--log-format", "json"]
    assert "genaiops" in (ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1].split("[")[0]


def test_the_workflow_plans_on_pull_requests_and_applies_on_main_behind_an_environment() -> None:
    doc = workflow()
    triggers: dict[str, Any] = doc["on"] if "on" in doc else doc[True]  # YAML 1.1 reads a bare `on` as True
    plan, apply = doc["jobs"]["plan"], doc["jobs"]["apply"]
    plan_script = " ".join(step.get("run", "") for step in plan["steps"])
    apply_script = " ".join(step.get("run", "") for step in apply["steps"])
    uses = [step.get("uses", "") for job in (plan, apply) for step in job["steps"]]

    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    assert "genaiops plan" in plan_script and "--output markdown" in plan_script
    assert "$GITHUB_STEP_SUMMARY" in plan_script
    assert any(step.get("uses", "").startswith("actions/github-script") for step in plan["steps"])
    assert plan["permissions"]["pull-requests"] == "write"
    assert apply["environment"] == "production"
    assert "genaiops apply" in apply_script and "--auto-approve" in apply_script and "--wait" in apply_script
    assert uses.count("google-github-actions/auth@v2") == 2
    assert plan["permissions"]["id-token"] == apply["permissions"]["id-token"] == "write"


@pytest.mark.parametrize(("where", "argv"), list(genaiops_invocations()), ids=lambda v: str(v)[:40])
def test_every_genaiops_call_names_a_real_command_and_real_flags(where: str, argv: list[str]) -> None:
    command = resolve(argv)
    if command is None and argv[0] == "reconcile":
        pytest.skip("the reconcile command is not registered yet")
    assert command is not None, f"{where}: `genaiops {argv[0]}` is not a command"
    known = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    for token in argv[1:]:
        if token.startswith("--"):
            assert token.split("=", 1)[0] in known, f"{where}: `genaiops {argv[0]}` has no option {token}"


def test_the_operations_guide_lists_every_permission_the_custom_roles_grant() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    granted = set(re.findall(r"--permissions=(\S+)", guide))
    permissions = {permission for group in granted for permission in group.split(",")}

    assert {"aiplatform.endpoints.deploy", "aiplatform.models.upload", "aiplatform.operations.get"} <= permissions
    assert {"storage.objects.get", "storage.objects.create", "storage.objects.delete"} <= permissions
    assert "roles/monitoring.viewer" in guide and "roles/iam.serviceAccountUser" in guide
    assert not any(permission.startswith(("resourcemanager.", "iam.roles.")) for permission in permissions)
