"""Page data on the emulator for what the rolled-back endpoint canary does not show: an Endpoint's A/B
experiment (two deployments at 50/50 under synthetic traffic) reported per variant with intervals, and a
Prompt label's canary in progress (its rollout page from the prompt store's record and the audit log)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli.target import open_target, spec_from_flags
from controller.cli.wiring import session_of
from controller.dashboard.page_data import DashboardSource, Pages
from controller.emulator.server import running
from controller.errors import UserError
from controller.loader import load
from tests.e2e.canary_helpers import HEALTHY_V1, HEALTHY_V2, TRAFFIC
from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml

PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greet}}
spec:
  model: gemini
  template: "{template}"
  variables: {{name: {{type: string}}}}
  labels: [production]
  rollout:
    strategy: canary
    steps: [{{weight: 30, pause: 1h}}]
    analysis:
      interval: 1s
      minRequests: 5
      metrics: [{{name: safety-block-rate, max: 10%}}, {{name: latency-p95, max: 2s}}]
---
apiVersion: genaiops/v1
kind: Model
metadata: {{name: gemini}}
spec: {{publisher: publishers/google/models/gemini-2.0-flash}}
"""
EXPERIMENT = """\
  rollout:
    strategy: experiment
    experiment: {duration: 1h, minRequests: 5}
    analysis: {metrics: [{name: error-rate, max: 0.5}, {name: latency-p99, maxMs: 1000}]}
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    root = tmp_path_factory.mktemp("experiment")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
        with running(rest_port=None, storage_port=0, **TRAFFIC) as emulator:
            workspace = Workspace(root, emulator)
            workspace.write(models=model_yaml(artifact=HEALTHY_V1), prompts=PROMPT.format(template="Hi {{ name }}"))
            first = workspace.apply()
            assert first.exit_code == 0, first.output
            ab = endpoint_yaml(
                name="ab",
                deployments="[{name: primary, model: llm@1}, {name: challenger, model: llm@2}]",
                traffic="{primary: 50, challenger: 50}",
                extra=EXPERIMENT,
            )
            workspace.write(
                models=model_yaml(artifact=HEALTHY_V2),
                endpoints=ab,
                prompts=PROMPT.format(template="Hello {{ name }}"),
            )
            second = workspace.apply()
            assert second.exit_code == 0, second.output
            time.sleep(3)  # synthetic traffic on both variants
            spec = spec_from_flags(
                target=None, project=None, emulator=emulator.grpc_target, lock_bucket=None, state_dir=None
            )
            with open_target(spec, ["us-central1"]) as opened:
                source = DashboardSource(
                    session=session_of(opened), load=lambda: load(workspace.manifests), audit_log=root / "audit.log"
                )
                found = Pages(source, refresh_s=60)
                found.snapshots.refresh()
                yield found


def test_an_endpoint_experiment_is_reported_per_variant_with_intervals(pages: Pages) -> None:
    page = pages.experiment(kind="Endpoint", name="ab")
    assert (page["kind"], page["name"], page["control"], page["confidence"]) == ("Endpoint", "ab", "primary", 0.95)
    assert page["started_at"] is not None and page["ends_at"] is not None
    assert page["ends_at"] - page["started_at"] == pytest.approx(3600)
    names = [m["name"] for m in page["metrics"]]
    assert names == ["error-rate", "latency-p99"]
    errors = page["metrics"][0]
    control, challenger = errors["variants"]
    assert (control["variant"], challenger["variant"]) == ("primary", "challenger")
    assert control["requests"] > 0 and challenger["requests"] > 0
    assert control["low"] is None and control["high"] is None
    assert challenger["low"] is not None and challenger["high"] is not None and challenger["low"] <= challenger["high"]
    assert errors["verdict"] and errors["detail"].startswith("challenger ")
    assert page["decision"]


def test_a_prompt_canary_in_progress_has_its_rollout_page(pages: Pages) -> None:
    rows = {r["kind"] + "/" + r["name"]: r for r in pages.overview()["rollouts"]}
    assert rows["Prompt/greet"]["phase"] == "progressing" and rows["Prompt/greet"]["part"] == "production"
    page = pages.rollout(kind="Prompt", name="greet", part="production")
    assert (page["identity"], page["phase"], page["weight"]) == ("prompt/greet[production]", "progressing", 30)
    versions = pages.prompt(name="greet")["versions"]
    assert (page["canary"], page["stable"]) == (versions[0]["version"], versions[1]["version"])
    assert page["events"][0]["kind"] == "started" and page["finished_at"] is None
    assert [(s["weight"], s["pause"]) for s in page["steps"]] == [(30, "1h")]
    assert [m["name"] for m in page["metrics"]] == ["safety-block-rate", "latency-p95"]
    assert page["metrics"][0]["threshold"] == {"kind": "max", "value": 0.1, "text": "max 0.1"}
    assert page["weights"][-1][1] == 30.0  # up to now, at the step's weight
    assert pages.prompts()["prompts"][0]["rollouts"] == ["production"]


def test_a_prompt_with_one_canary_label_needs_no_part_and_a_prompt_experiment_is_not_found(pages: Pages) -> None:
    assert pages.rollout(kind="Prompt", name="greet")["part"] == "production"
    with pytest.raises(Exception, match="no Prompt experiment named 'greet'"):
        pages.experiment(kind="Prompt", name="greet")
    with pytest.raises(UserError, match="kind: Endpoint or Prompt"):
        pages.experiment(kind="Dataset", name="greet")


def test_the_audit_log_has_the_prompt_canarys_start(pages: Pages, tmp_path: Path) -> None:
    started = pages.audit_log(event="rollout-started")
    assert started["total"] == 1 and started["rows"][0]["resource"] == "greet"
