"""The files users run genaiops with (Dockerfile, deploy/kubernetes/, the GitHub Actions workflows) parse,
agree with each other, and only call `genaiops` commands and flags the CLI really has."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
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


def resolve(argv: list[str]) -> tuple[click.Command | None, list[str]]:
    """The (sub)command `argv` names, descending into groups (`prompts test`), and the arguments after it."""
    command: click.Command = cli
    rest = list(argv)
    while isinstance(command, click.Group) and rest:
        found = command.get_command(click.Context(command), rest[0])
        if found is None:
            return None, rest
        command, rest = found, rest[1:]
    return command, rest


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


def _script(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(f"{action}@")]


def test_every_pull_request_is_checked_without_credentials_forks_included() -> None:
    doc = workflow()
    triggers: dict[str, Any] = doc["on"] if "on" in doc else doc[True]  # YAML 1.1 reads a bare `on` as True
    check = doc["jobs"]["check"]
    script = _script(check)

    assert "pull_request" in triggers and "pull_request_target" not in triggers
    assert "vars." not in check["if"] and "head.repo" not in check["if"]
    assert check["permissions"] == {"contents": "read"}
    assert not _uses(check, "google-github-actions/auth")
    assert "genaiops validate" in script
    assert re.search(r"genaiops schema --out \S+ --check", script)
    assert re.search(r"genaiops prompts test .*--junit-xml (\S+)", script)
    junit = re.search(r"--junit-xml (\S+)", script)
    assert junit is not None
    assert [u["with"]["path"] for u in _uses(check, "actions/upload-artifact")] == [junit[1]]


def test_plans_are_made_with_read_only_credentials_saved_as_artifacts_and_posted_on_the_pull_request() -> None:
    plan = workflow()["jobs"]["plan"]
    script = _script(plan)
    environments = [entry["environment"] for entry in plan["strategy"]["matrix"]["include"]]

    assert environments == ["dev", "production"]
    assert "head.repo.full_name == github.repository" in plan["if"]  # fork PRs get no OIDC token
    assert "vars.GCP_WORKLOAD_IDENTITY_PROVIDER" in plan["if"]
    assert plan["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert "environment" not in plan  # planning needs no approval
    (auth,) = _uses(plan, "google-github-actions/auth")
    assert (
        "PLAN_SERVICE_ACCOUNT" in str(plan["strategy"])
        and auth["with"]["service_account"] == "${{ matrix.service_account }}"
    )
    saved = re.search(r"genaiops plan .*--out (\S+)", script)
    assert saved is not None and "--output markdown" in script and "$GITHUB_STEP_SUMMARY" in script
    (upload,) = _uses(plan, "actions/upload-artifact")
    assert saved[1].startswith(upload["with"]["path"]) and "manifests.tree" in script
    assert upload["with"]["name"] == "genaiops-plan-${{ matrix.environment }}"
    assert _uses(plan, "actions/github-script")


def test_a_merge_applies_the_reviewed_plan_dev_then_production_and_status_gates_each() -> None:
    jobs = workflow()["jobs"]
    finder, dev, production = jobs["reviewed-plan"], jobs["apply-dev"], jobs["apply-production"]

    assert "github.event_name == 'push'" in finder["if"] and "refs/heads/main" in finder["if"]
    assert "listPullRequestsAssociatedWithCommit" in _uses(finder, "actions/github-script")[0]["with"]["script"]
    assert finder["permissions"]["actions"] == "read" and "id-token" not in finder["permissions"]
    assert (dev["environment"], production["environment"]) == ("dev", "production")
    assert dev["needs"] == "reviewed-plan" and set(production["needs"]) == {"reviewed-plan", "apply-dev"}
    for name, job in (("dev", dev), ("production", production)):
        (download,) = _uses(job, "actions/download-artifact")
        assert download["with"]["name"] == f"genaiops-plan-{name}"
        assert download["with"]["run-id"] == "${{ needs.reviewed-plan.outputs.run_id }}"
        script = _script(job)
        applied = re.search(r"genaiops apply (\S+)", script)
        assert applied is not None and applied[1].startswith(download["with"]["path"] + "/"), "not the reviewed plan"
        assert "--wait" in script and "genaiops plan" not in script
        assert "manifests.tree" in script and 'git rev-parse "HEAD:$GENAIOPS_PATH"' in script
        lines = [line.strip() for line in script.splitlines()]
        status = next(i for i, line in enumerate(lines) if line.startswith("genaiops status"))
        assert status > next(i for i, line in enumerate(lines) if line.startswith("genaiops apply"))
        assert job["permissions"] == {"actions": "read", "contents": "read", "id-token": "write"}
        assert job["concurrency"]["cancel-in-progress"] is False
        (auth,) = _uses(job, "google-github-actions/auth")
        assert "APPLY_SERVICE_ACCOUNT" in auth["with"]["service_account"]


def test_every_action_is_pinned_by_a_full_commit_sha_with_its_release_beside_it() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert len(uses) >= 10
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned by a commit SHA"
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), f"{action}: name the release it is ({comment!r})"
    for action in ("actions/checkout", "actions/setup-python", "actions/upload-artifact", "actions/download-artifact"):
        assert len({sha for name, sha in (u[0].split("@") for u in uses) if name == action}) == 1, action


def test_genaiops_is_installed_from_a_lock_whose_every_requirement_is_pinned_by_hash() -> None:
    doc = workflow()
    lock = ROOT / doc["env"]["GENAIOPS_LOCK"]
    installs = [
        step["run"] for job in doc["jobs"].values() for step in job["steps"] if "pip install" in step.get("run", "")
    ]
    body = "\n".join(line for line in lock.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    requirements = re.split(r"\n(?=[a-z0-9])", body.strip())

    assert len(installs) == 4  # check, plan, apply-dev, apply-production
    for script in installs:
        assert 'pip install --quiet --require-hashes -r "$GENAIOPS_LOCK"' in script
        assert "git+" not in script and "GENAIOPS_PACKAGE" not in script
    names = {r.split("==", 1)[0] for r in requirements}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    missing = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in declared} - names
    assert not missing, f"{lock.name} lacks {sorted(missing)}: regenerate it (its header says how)"
    for requirement in requirements:
        assert re.match(r"[a-z0-9._-]+==\S+ \\\n", requirement), requirement[:80]
        assert "--hash=sha256:" in requirement, requirement[:80]


@pytest.mark.parametrize(("where", "argv"), list(genaiops_invocations()), ids=lambda v: str(v)[:40])
def test_every_genaiops_call_names_a_real_command_and_real_flags(where: str, argv: list[str]) -> None:
    command, rest = resolve(argv)
    assert command is not None, f"{where}: `genaiops {' '.join(argv[:2])}` is not a command"
    known = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    for token in rest:
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
