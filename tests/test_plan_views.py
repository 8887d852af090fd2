"""Plan views: human (rich, Terraform symbols), JSON (versioned document) and Markdown (PR comments under a
size limit). Plans come from the real planner over small manifests and hand-made observed state."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from typing import Any

import pytest
from rich.console import Console

from controller.diagnostics import Diagnostic, Severity, Source
from controller.model import Endpoint, Manifest, Model
from controller.observed import (
    ContainerSpec,
    DeploymentSpec,
    Observed,
    ObservedDeployedModel,
    ObservedEndpoint,
    ObservedModel,
    ObservedModelVersion,
)
from controller.plans.plan import Action, Plan
from controller.plans.planner import plan as make_plan
from controller.views.plan_human import NO_CHANGES, render_plan
from controller.views.plan_json import plan_to_json, render_json
from controller.views.plan_markdown import render_markdown

REGION = "us-central1"
MANAGED = {"managed-by": "genaiops"}
ARTIFACT_V1 = "gs://models/support-llm/v1"
ARTIFACT_V2 = "gs://models/support-llm/v2"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/pytorch-cpu.2-1:latest"


# --- builders (also used by test_planfile.py) -----------------------------------------------------------


def model_manifest(name: str = "support-llm", *, artifact: str = ARTIFACT_V1, aliases: tuple[str, ...] = ()) -> Model:
    """A registry Model manifest."""
    return Model.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Model",
            "metadata": {"name": name},
            "spec": {
                "region": REGION,
                "upload": {
                    "artifactUri": artifact,
                    "servingContainer": {"imageUri": IMAGE, "ports": [{"containerPort": 8080}]},
                    "versionAliases": list(aliases),
                },
            },
        }
    )


def endpoint_manifest(
    name: str = "support-chat",
    *,
    deployments: dict[str, str] | None = None,
    traffic: dict[str, int] | None = None,
    canary: bool = False,
    description: str | None = None,
) -> Endpoint:
    """An Endpoint manifest; `deployments` maps deployment name -> model reference."""
    deployments = deployments or {"primary": "support-llm"}
    spec: dict[str, Any] = {
        "region": REGION,
        "deployments": [{"name": d, "model": ref, "maxReplicas": 2} for d, ref in deployments.items()],
        "traffic": traffic or {next(iter(deployments)): 100},
    }
    if canary:
        spec["rollout"] = {"strategy": "canary", "steps": [{"weight": 10, "pause": "1m"}, {"weight": 100}]}
    if description is not None:
        spec["description"] = description
    return Endpoint.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Endpoint",
            "metadata": {"name": name, "labels": {"team": "support"}},
            "spec": spec,
        }
    )


def live_model(name: str = "support-llm", *, artifact: str = ARTIFACT_V1, version: str = "1") -> ObservedModel:
    """A managed model as observe returns it, matching `model_manifest(name, artifact=artifact)`."""
    container = ContainerSpec(image_uri=IMAGE, ports=(8080,))
    default = ObservedModelVersion(version, ("default",), artifact, container, "2025-01-01T00:00:00Z")
    return ObservedModel(name, REGION, name, "", dict(MANAGED), default, "2025-01-01T00:00:00Z")


def deployed(
    deployed_id: str, deployment: str, *, model: str = "support-llm", version: str = "1"
) -> ObservedDeployedModel:
    """A deployed model matching a manifest deployment of `endpoint_manifest`."""
    return ObservedDeployedModel(deployed_id, DeploymentSpec(deployment, model, version, "n1-standard-4", 1, 2))


def live_endpoint(
    name: str = "support-chat", *, models: tuple[ObservedDeployedModel, ...] = (), split: dict[str, int] | None = None
) -> ObservedEndpoint:
    """A managed endpoint as observe returns it."""
    models = models or (deployed("111", "primary"),)
    split = split if split is not None else {models[0].id: 100}
    labels = {**MANAGED, "team": "support"}
    return ObservedEndpoint(name, REGION, name, "", labels, models, split, f"etag-{name}", "2025-01-02T00:00:00Z")


def observed(*resources: ObservedModel | ObservedEndpoint) -> Observed:
    """Observed state holding these resources."""
    endpoints = {(r.region, r.endpoint_id): r for r in resources if isinstance(r, ObservedEndpoint)}
    models = {(r.region, r.model_id): r for r in resources if isinstance(r, ObservedModel)}
    return Observed(endpoints=endpoints, models=models)


def create_plan() -> Plan:
    """A model and an endpoint serving it, on an empty target."""
    return make_plan([model_manifest(aliases=("stable",)), endpoint_manifest()], Observed(), target="local")


def traffic_shift_plan() -> Plan:
    """Primary 90 / canary 10 live; the manifests ask for 50 / 50."""
    manifests: list[Manifest] = [
        model_manifest(),
        endpoint_manifest(
            deployments={"primary": "support-llm", "canary": "support-llm"}, traffic={"primary": 50, "canary": 50}
        ),
    ]
    live = live_endpoint(models=(deployed("111", "primary"), deployed("222", "canary")), split={"111": 90, "222": 10})
    return make_plan(manifests, observed(live_model(), live), target="projects/acme/locations/us-central1")


def delete_plan() -> Plan:
    """A managed endpoint and model left the manifests; --prune."""
    return make_plan([], observed(live_model(), live_endpoint()), prune=True, target="local")


def rollout_plan() -> Plan:
    """A new model artifact behind a canary endpoint that carries traffic: a staged rollout."""
    manifests: list[Manifest] = [model_manifest(artifact=ARTIFACT_V2), endpoint_manifest(canary=True)]
    return make_plan(manifests, observed(live_model(), live_endpoint()), target="local")


def no_change_plan() -> Plan:
    """Live state already matches."""
    return make_plan([model_manifest(), endpoint_manifest()], observed(live_model(), live_endpoint()), target="local")


def many_resources_plan(count: int) -> Plan:
    """`count` endpoints to create (the model they serve already exists)."""
    manifests: list[Manifest] = [model_manifest()]
    manifests += [endpoint_manifest(f"endpoint-{i:05d}") for i in range(count)]
    return make_plan(manifests, observed(live_model()), target="local")


def human(plan: Plan, *, show_noop: bool = False, terminal: bool = False) -> str:
    """The human view as the user would see it."""
    console = Console(record=True, width=120, force_terminal=terminal, file=io.StringIO())
    render_plan(plan, console, show_noop=show_noop)
    return console.export_text(styles=terminal)


# --- human view -----------------------------------------------------------------------------------------


def test_a_create_shows_every_field_with_plus_and_the_operations_in_order() -> None:
    text = human(create_plan())
    assert text.startswith("Target: local\n")
    assert "  # Model/us-central1/support-llm will be created\n" in text
    assert '  + resource "Endpoint" "support-chat" {\n' in text
    assert '      + displayName: "support-chat"\n' in text
    assert "      + traffic.primary: 100\n" in text
    assert "+ deployments.primary.model: support-llm@(known after apply)\n" in text
    create, deploy, shift = (
        text.index(s) for s in ("1. create endpoint", "2. deploy support-llm", "3. update endpoint")
    )
    assert create < deploy < shift
    assert text.rstrip().endswith("Plan: 2 to add, 0 to change, 0 to destroy, 0 traffic shifts.")


def test_an_update_with_a_traffic_shift_shows_old_and_new_values() -> None:
    text = human(traffic_shift_plan())
    assert "Target: projects/acme/locations/us-central1" in text
    assert "  # Endpoint/us-central1/support-chat will be updated in-place\n" in text
    assert '  ~ resource "Endpoint" "support-chat" {\n' in text
    assert "      ~ traffic.primary: 90 -> 50\n" in text
    assert "      ~ traffic.canary: 10 -> 50\n" in text
    assert "1. update endpoint support-chat: traffic canary=50%, primary=50%" in text  # names, not ids
    assert "why: traffic split differs" in text
    assert "Model/us-central1/support-llm" not in text  # unchanged resources are hidden by default
    assert "(1 resource unchanged, not shown)" in text
    assert text.rstrip().endswith("Plan: 0 to add, 1 to change, 0 to destroy, 1 traffic shift.")


def test_a_delete_shows_every_field_with_minus_and_undeploys_before_deleting() -> None:
    text = human(delete_plan())
    assert "  # Endpoint/us-central1/support-chat will be destroyed\n" in text
    assert '  - resource "Model" "support-llm" {\n' in text
    assert "      - traffic.primary: 100\n" in text
    assert text.index("undeploy primary (111)") < text.index("delete endpoint support-chat")
    assert text.rstrip().endswith("Plan: 0 to add, 0 to change, 2 to destroy, 0 traffic shifts.")


def test_a_rollout_uses_the_rollout_symbol_and_counts_in_the_summary() -> None:
    plan = rollout_plan()
    assert [c.action for c in plan.changes] == [Action.UPDATE, Action.ROLLOUT]
    text = human(plan)
    assert "  # Endpoint/us-central1/support-chat will be rolled out in stages\n" in text
    assert '  > resource "Endpoint" "support-chat" {\n' in text
    assert '~ deployments.primary.model: "support-llm@1" -> support-llm@(known after apply)' in text
    assert "upload new version of support-llm from gs://models/support-llm/v2" in text
    assert "  > staged rollout" in text  # the legend explains the symbol
    assert text.rstrip().endswith("Plan: 0 to add, 1 to change, 0 to destroy, 0 traffic shifts, 1 rollout.")


def test_no_changes_says_so_and_shows_no_resource_blocks() -> None:
    text = human(no_change_plan())
    assert "resource " not in text
    assert "following symbols" not in text
    assert text.rstrip().endswith(NO_CHANGES)


def test_show_noop_lists_resources_that_are_up_to_date() -> None:
    text = human(no_change_plan(), show_noop=True)
    assert "  # Model/us-central1/support-llm is up to date\n" in text
    assert "  # Endpoint/us-central1/support-chat is up to date\n" in text


def test_notes_and_diagnostics_are_printed_before_the_summary() -> None:
    manifests: list[Manifest] = [
        model_manifest(),
        endpoint_manifest("broken", deployments={"primary": "support-llm@beta"}),
    ]
    plan = make_plan(manifests, observed(live_model(), live_endpoint("orphan")), target="local")
    text = human(plan)
    assert "Note: Endpoint/us-central1/orphan is managed by genaiops but in no manifest; --prune deletes it" in text
    assert (
        "Error: <manifests> spec.deployments: deployment 'primary': "
        "model 'support-llm' has no version with alias 'beta'" in text
    )
    assert text.index("Note:") < text.index("Error:") < text.index("No changes planned, but 1 problem")


def test_a_warning_diagnostic_is_labelled_as_a_warning_with_its_detail() -> None:
    warning = Diagnostic("quota is low", Source("manifests/a.yaml", 3, 5), "spec", Severity.WARNING, "ask for more")
    text = human(dataclasses.replace(create_plan(), diagnostics=(warning,)))
    assert "manifests/a.yaml:3:5 spec: warning: quota is low\n  ask for more\n" in text


def test_colour_is_used_on_a_terminal_only() -> None:
    plain = human(traffic_shift_plan(), terminal=False)
    coloured = human(traffic_shift_plan(), terminal=True)
    assert "\x1b[" not in plain
    assert re.search(r"\x1b\[[0-9;]*33m~", coloured)  # `~` in yellow
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_symbols_have_terraforms_colours() -> None:
    create = human(create_plan(), terminal=True)
    delete = human(delete_plan(), terminal=True)
    rollout = human(rollout_plan(), terminal=True)
    assert re.search(r"\x1b\[[0-9;]*32m\+", create)
    assert re.search(r"\x1b\[[0-9;]*31m-", delete)
    assert re.search(r"\x1b\[[0-9;]*36m>", rollout)


def test_markup_like_text_in_values_is_printed_verbatim() -> None:
    endpoint = endpoint_manifest(description="[bold]not markup[/bold] :smile:")
    text = human(make_plan([model_manifest(), endpoint], Observed()))
    assert '+ description: "[bold]not markup[/bold] :smile:"' in text


# --- JSON view ------------------------------------------------------------------------------------------


def test_the_json_document_is_versioned_with_a_fixed_key_order() -> None:
    document = plan_to_json(traffic_shift_plan())
    assert list(document) == [
        "format_version",
        "target",
        "summary",
        "changes",
        "notes",
        "diagnostics",
        "fingerprint",
    ]
    assert document["format_version"] == "1.0"
    assert document["summary"] == {
        "add": 0,
        "change": 1,
        "destroy": 0,
        "traffic_shifts": 1,
        "rollouts": 0,
        "attention": 0,
        "has_changes": True,
        "line": "Plan: 0 to add, 1 to change, 0 to destroy, 1 traffic shift.",
    }
    assert document["fingerprint"] == {
        "Endpoint/us-central1/support-chat": "etag-support-chat",
        "Model/us-central1/support-llm": "2025-01-01T00:00:00Z",
    }


def test_each_json_change_has_action_before_after_field_changes_operations_and_reasons() -> None:
    endpoint = plan_to_json(traffic_shift_plan())["changes"][1]
    assert list(endpoint) == [
        "address",
        "kind",
        "name",
        "region",
        "action",
        "before",
        "after",
        "changes",
        "operations",
        "reasons",
        "drift",
        "sync",
        "suspended",
        "health",
        "text_diffs",
    ]
    assert endpoint["address"] == "Endpoint/us-central1/support-chat"
    assert endpoint["action"] == "update"
    assert endpoint["before"]["traffic"] == {"canary": 10, "primary": 90}
    assert endpoint["after"]["traffic"] == {"canary": 50, "primary": 50}
    assert {"path": "traffic.primary", "before": 90, "after": 50} in endpoint["changes"]
    assert endpoint["operations"][0]["op"] == "SetTraffic"
    assert endpoint["operations"][0]["split"] == {"111": 50, "222": 50}
    assert endpoint["reasons"] == ["traffic split differs"]


def test_a_create_has_no_before_and_a_delete_no_after() -> None:
    created = plan_to_json(create_plan())["changes"][0]
    deleted = plan_to_json(delete_plan())["changes"][0]
    assert (created["action"], created["before"]) == ("create", None)
    assert (deleted["action"], deleted["after"]) == ("delete", None)


def test_render_json_is_the_document_as_text_and_is_deterministic() -> None:
    plan = traffic_shift_plan()
    text = render_json(plan)
    assert json.loads(text) == plan_to_json(plan)
    assert render_json(traffic_shift_plan()) == text


def test_json_output_does_not_depend_on_the_order_views_were_built_in() -> None:
    plan = traffic_shift_plan()
    shuffled = tuple(dataclasses.replace(c, after=dict(reversed(list((c.after or {}).items())))) for c in plan.changes)
    assert render_json(dataclasses.replace(plan, changes=shuffled)) == render_json(plan)


def test_json_carries_notes_and_diagnostics() -> None:
    manifests: list[Manifest] = [endpoint_manifest(deployments={"primary": "support-llm@beta"})]
    document = plan_to_json(make_plan(manifests, observed(live_model(), live_endpoint("orphan"))))
    assert document["notes"] == [
        "Endpoint/us-central1/orphan is managed by genaiops but in no manifest; --prune deletes it",
        "Model/us-central1/support-llm is managed by genaiops but in no manifest; --prune deletes it",
    ]
    assert document["diagnostics"][0]["path"] == "spec.deployments"
    assert document["summary"]["has_changes"] is False


# --- Markdown view --------------------------------------------------------------------------------------


def test_markdown_starts_with_the_summary_then_a_table_and_a_diff_per_resource() -> None:
    text = render_markdown(traffic_shift_plan())
    lines = text.splitlines()
    assert lines[0] == "### genaiops plan for `projects/acme/locations/us-central1`"
    assert lines[2] == "**Plan: 0 to add, 1 to change, 0 to destroy, 1 traffic shift.**"
    assert "| `~` | `Endpoint/us-central1/support-chat` | update | traffic split differs |" in lines
    assert (
        "<details><summary><code>~ Endpoint/us-central1/support-chat</code> will be updated in-place</summary>" in lines
    )
    diff = text[text.index("```diff\n") : text.index("```\n", text.index("```diff\n") + 3)]
    assert "- traffic.primary: 90\n+ traffic.primary: 50\n" in diff
    assert "1 resource unchanged." in lines
    assert "Output truncated" not in text


def test_markdown_lists_problems_and_notes() -> None:
    manifests: list[Manifest] = [endpoint_manifest(deployments={"primary": "support-llm@beta"})]
    text = render_markdown(make_plan(manifests, observed(live_model(), live_endpoint("orphan"))))
    assert "- **Error:** `<manifests>` spec.deployments: deployment 'primary'" in text
    assert "- Endpoint/us-central1/orphan is managed by genaiops" in text


def test_markdown_with_no_changes_says_so() -> None:
    text = render_markdown(no_change_plan())
    assert f"**{NO_CHANGES}**" in text
    assert "<details>" not in text
    assert "| Resource |" not in text


def test_a_plan_of_two_thousand_resources_stays_under_the_limit_with_a_truncation_note() -> None:
    plan = many_resources_plan(2000)
    text = render_markdown(plan)
    assert len(text) <= 60_000
    assert "**Plan: 2000 to add, 0 to change, 0 to destroy, 0 traffic shifts.**" in text
    shown = len(re.findall(r"^\| `\+` \| `Endpoint/", text, flags=re.MULTILINE))
    assert 100 < shown < 2000
    assert text.rstrip().endswith(
        f"_Output truncated: {shown} of 2000 resources shown; run `genaiops plan` for the full plan._"
    )
    assert "<details>" not in text  # the table is kept before any details


def test_details_are_cut_before_table_rows() -> None:
    text = render_markdown(many_resources_plan(200))
    assert len(text) <= 60_000
    assert len(re.findall(r"^\| `\+` \| `Endpoint/", text, flags=re.MULTILINE)) == 200
    shown = text.count("<details>")
    assert 0 < shown < 200
    assert f"_Output truncated: details for {shown} of 200 resources shown;" in text
    assert text.count("<details>") == text.count("</details>")


@pytest.mark.parametrize("limit", [400, 1_000, 5_000, 20_000])
def test_markdown_respects_any_limit(limit: int) -> None:
    text = render_markdown(many_resources_plan(50), limit=limit)
    assert len(text) <= limit
    assert "**Plan: 50 to add" in text
    assert "Output truncated" in text


def test_backticks_and_pipes_in_values_cannot_break_out_of_the_diff_or_the_table() -> None:
    endpoint = endpoint_manifest(description="see ``` and | pipes <b>")
    text = render_markdown(make_plan([model_manifest(), endpoint], Observed()))
    assert "````diff\n" in text
    assert '+ description: "see ``` and | pipes <b>"' in text


def test_notes_that_do_not_fit_are_counted_in_the_truncation_note() -> None:
    notes = tuple(f"Endpoint/us-central1/orphan-{i:05d} is managed by genaiops but in no manifest" for i in range(3000))
    text = render_markdown(dataclasses.replace(traffic_shift_plan(), notes=notes))
    assert len(text) <= 60_000
    shown = len(re.findall(r"^- Endpoint/us-central1/orphan-", text, flags=re.MULTILINE))
    assert 0 < shown < 3000
    assert "| `~` | `Endpoint/us-central1/support-chat` |" in text
    assert text.rstrip().endswith(f"_Also left out: 0 problem(s) and {3000 - shown} note(s)._")
