"""The environment in plan views (issue 17), on hand-made plans: the human view names the environment under
the target and lists each value it set per resource with its origin; the JSON document carries them with
their resource's address; the Markdown comment folds them into a table that stays under the size limit; a
plan without an environment renders exactly as before. A saved plan keeps the environment."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

from rich.console import Console

from controller.model import Override
from controller.plans.plan import Plan
from controller.plans.planfile import load_plan, save_plan
from controller.views.plan_human import render_plan
from controller.views.plan_json import plan_to_json
from controller.views.plan_markdown import render_markdown
from tests.test_plan_views import create_plan

FILE = "manifests/environments/prod.yaml"
SETTINGS = {"project": "acme-genai-prod", "region": "us-central1"}


def override(path: str, value: object, line: int, *, kind: str = "Endpoint", name: str = "support-chat") -> Override:
    return Override(kind, name, path, value, FILE, line, 11)


def prod_plan(*overrides: Override) -> Plan:
    return dataclasses.replace(
        create_plan(),
        target="Vertex AI project acme-genai-prod, environment prod",
        environment="prod",
        environment_file=FILE,
        environment_settings=SETTINGS,
        overrides=overrides
        or (
            override("spec.deployments[primary].minReplicas", 2, 14),
            override("metadata.labels", {"env": "prod"}, 9),
            override("spec.limits.serving", 2500.0, 20, kind="Budget", name="prod-budget"),
        ),
    )


def human(plan: Plan) -> list[str]:
    out = io.StringIO()
    render_plan(plan, Console(file=out, width=200, color_system=None))
    return out.getvalue().splitlines()


def test_the_human_view_lists_each_value_the_environment_set_under_its_resource_with_its_origin() -> None:
    lines = human(prod_plan())
    start = lines.index(f"Environment prod ({FILE}): project acme-genai-prod, region us-central1")

    assert lines[0] == "Target: Vertex AI project acme-genai-prod, environment prod"
    assert lines[start + 1 : start + 7] == [
        "  Endpoint/us-central1/support-chat:",
        f"    spec.deployments[primary].minReplicas = 2   ← {FILE}:14:11",
        f'    metadata.labels = {{env: "prod"}}             ← {FILE}:9:11',
        "  Budget/prod-budget:",
        f"    spec.limits.serving = 2500.0   ← {FILE}:20:11",
        "  (every other value is from base, the manifests' own files)",
    ]


def test_an_environment_that_set_no_value_says_every_value_is_from_base() -> None:
    plan = dataclasses.replace(prod_plan(), overrides=(), environment_file="")
    lines = human(plan)
    index = lines.index("Environment prod: project acme-genai-prod, region us-central1")
    assert lines[index + 1] == "  (it sets no manifest value: every value is from base, the manifests' own files)"


def test_a_plan_without_an_environment_renders_as_before() -> None:
    plan = create_plan()
    assert not any("Environment" in line or "←" in line for line in human(plan))
    assert "environment" not in plan_to_json(plan)
    assert "Environment" not in render_markdown(plan)


def test_the_json_document_gives_each_override_its_address_value_and_origin() -> None:
    document = plan_to_json(prod_plan())["environment"]
    assert (document["name"], document["file"], document["settings"]) == ("prod", FILE, SETTINGS)
    first = document["overrides"][0]
    assert first["address"] == "Endpoint/us-central1/support-chat"
    assert (first["path"], first["value"], first["origin"]) == (
        "spec.deployments[primary].minReplicas",
        2,
        f"{FILE}:14:11",
    )
    assert document["overrides"][2]["address"] == "Budget/prod-budget"
    assert document["line"].startswith("Environment prod (")
    json.dumps(document)  # plain JSON data


def test_the_markdown_table_of_environment_values_takes_a_share_of_the_limit_and_says_what_it_left_out() -> None:
    many = tuple(override(f"metadata.labels.l{i}", "x" * 40, i) for i in range(400))
    text = render_markdown(prod_plan(*many), limit=8_000)
    assert len(text) <= 8_000
    assert "<details><summary>Environment <code>prod</code>: 400 values from" in text
    assert "more values left out._" in text
    assert text.count("<details>") == text.count("</details>")  # the fold is always closed
    assert "**Plan: " in text
    assert "| `+` | `Endpoint/us-central1/support-chat` | create |" in text  # the resources still come through


def test_a_saved_plan_keeps_the_environment_and_its_overrides(tmp_path: Path) -> None:
    plan = prod_plan()
    save_plan(plan, tmp_path / "plan.json", manifests_digest="sha256:x", created_at="2026-12-02T00:00:00Z")
    loaded = load_plan(tmp_path / "plan.json").plan
    assert loaded == plan
    assert loaded.overrides[1].value == {"env": "prod"}
    assert loaded.overrides[0].origin == f"{FILE}:14:11"
