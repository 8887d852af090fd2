"""A saved plan is applied like a plan made on the spot (issue 11): `apply PLANFILE` publishes the prompt
versions and moves the labels it lists, and drives the canary rollouts it starts; a plan whose prompt
labels moved since it was saved is refused as stale."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.canary_helpers import HEALTHY_V1, HEALTHY_V2, TRAFFIC, canary_yaml, rollout_events, served
from tests.e2e.conftest import Workspace, model_yaml

PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greet}}
spec:
  model: gemini
  template: "{template}"
  variables: {{customer: {{type: string}}}}
  labels: [production]
---
apiVersion: genaiops/v1
kind: Model
metadata: {{name: gemini}}
spec: {{publisher: publishers/google/models/gemini-2.0-flash}}
"""


@pytest.fixture
def workspace_v1(make_workspace: Callable[..., Workspace]) -> Workspace:
    workspace = make_workspace(**TRAFFIC)
    workspace.write(
        models=model_yaml(artifact=HEALTHY_V1),
        endpoints=canary_yaml(),
        prompts=PROMPT.format(template="Hi {{ customer }}"),
    )
    first = workspace.apply()
    assert first.exit_code == 0, first.output
    return workspace


def test_a_saved_plan_publishes_its_prompts_and_drives_its_canary_to_promotion(workspace_v1: Workspace) -> None:
    workspace = workspace_v1
    workspace.write(
        models=model_yaml(artifact=HEALTHY_V2),
        endpoints=canary_yaml(),
        prompts=PROMPT.format(template="Hello {{ customer }}, welcome back"),
    )
    planfile = workspace.root / "reviewed.plan"
    planned = workspace.plan("--out", str(planfile))
    assert planned.exit_code == 0, planned.output
    assert "+Hello {{ customer }}, welcome back" in planned.output  # the template diff is in the reviewed plan
    applied = workspace.run("apply", str(planfile), "--wait", "--audit-log", str(workspace.root / "audit.log"))
    assert applied.exit_code == 0, applied.output
    assert "publish version" in applied.output and "of prompt greet: done" in applied.output
    assert served(workspace.endpoint()) == {"2": 100}
    moves = [e["event"] for e in rollout_events(workspace.root / "audit.log", "started", "step", "promoted")]
    assert moves == ["rollout-started", "rollout-step", "rollout-promoted"]
    assert workspace.plan("--detailed-exitcode").exit_code == 0


def test_a_saved_plan_is_refused_when_a_prompt_label_moved_since(workspace_v1: Workspace) -> None:
    workspace = workspace_v1
    workspace.write(
        models=model_yaml(artifact=HEALTHY_V1),
        endpoints=canary_yaml(),
        prompts=PROMPT.format(template="Second {{ customer }}"),
    )
    planfile = workspace.root / "second.plan"
    assert workspace.plan("--out", str(planfile)).exit_code == 0
    workspace.write(
        models=model_yaml(artifact=HEALTHY_V1),
        endpoints=canary_yaml(),
        prompts=PROMPT.format(template="Third {{ customer }}"),
    )
    assert workspace.apply().exit_code == 0  # someone applied another change to the prompt meanwhile
    stale = workspace.run("apply", str(planfile))
    assert stale.exit_code == 1
    assert "stale" in stale.output and "Prompt/global/greet changed since planning" in stale.output
