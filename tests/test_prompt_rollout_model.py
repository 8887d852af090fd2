"""What a Prompt's and an Endpoint's rollout refuse now that prompts roll out too: a canary or experiment
without labels, an experiment control on a Prompt, an Endpoint experiment with autoPromote (its traffic
is what git says), and the runtime client's prompt metrics on an Endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from controller.model import Endpoint, Prompt

ANALYSIS = {"metrics": [{"name": "error-rate", "max": 0.1}]}


def prompt(rollout: dict[str, Any], labels: list[str] | None = None) -> Prompt:
    spec = {"model": "gemini-flash", "template": "Hi {{ name }}", "labels": labels or [], "rollout": rollout}
    return Prompt.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Prompt", "metadata": {"name": "p"}, "spec": spec}
    )


def endpoint(rollout: dict[str, Any], traffic: dict[str, int] | None = None) -> Endpoint:
    spec = {
        "deployments": [{"name": "a", "model": "llm@1"}, {"name": "b", "model": "llm@2"}],
        "traffic": traffic or {"a": 50, "b": 50},
        "rollout": rollout,
    }
    return Endpoint.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Endpoint", "metadata": {"name": "e"}, "spec": spec}
    )


@pytest.mark.parametrize(
    ("rollout", "message"),
    [
        ({"strategy": "canary", "stepWeight": 20, "analysis": ANALYSIS}, "a canary rollout moves labels"),
        (
            {"strategy": "experiment", "experiment": {"duration": "1h"}, "analysis": ANALYSIS},
            "an experiment rollout moves labels",
        ),
    ],
)
def test_a_prompt_rollout_without_labels_is_refused_saying_to_list_them(rollout: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        prompt(rollout)


def test_an_experiment_control_on_a_prompt_is_refused() -> None:
    rollout = {"strategy": "experiment", "experiment": {"duration": "1h", "control": "a"}, "analysis": ANALYSIS}
    with pytest.raises(ValidationError, match="a Prompt's control is the version its label points at now"):
        prompt(rollout, ["production"])


def test_a_prompt_canary_may_judge_on_the_runtime_clients_metrics() -> None:
    metrics = [{"name": "feedback-score", "min": 3.5}, {"name": "safety-block-rate", "max": "2%"}]
    made = prompt({"strategy": "canary", "stepWeight": 20, "analysis": {"metrics": metrics}}, ["production"])
    assert made.spec.rollout.analysis is not None and len(made.spec.rollout.analysis.metrics) == 2


@pytest.mark.parametrize(
    "metric", ["feedback-score", "safety-block-rate", "cost-per-request", "output-tokens-per-request"]
)
def test_an_endpoint_refuses_the_runtime_clients_prompt_metrics(metric: str) -> None:
    threshold = {"min": 3} if metric == "feedback-score" else {"max": 0.5}
    analysis = {"metrics": [{"name": metric, **threshold}]}
    with pytest.raises(ValidationError, match=f"metric '{metric}' is measured by the runtime client for prompts"):
        endpoint({"strategy": "canary", "stepWeight": 20, "analysis": analysis}, {"a": 100, "b": 0})


def test_an_endpoint_experiment_with_auto_promote_is_refused_pointing_at_git() -> None:
    rollout = {"strategy": "experiment", "experiment": {"duration": "1h", "autoPromote": True}, "analysis": ANALYSIS}
    with pytest.raises(ValidationError, match="change 'traffic' in git"):
        endpoint(rollout)
