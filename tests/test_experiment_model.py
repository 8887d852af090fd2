"""What `rollout: {strategy: experiment}` accepts, and the messages for what it refuses (model/experiment_settings.py,
the Rollout and EndpointSpec checks in model/endpoint.py). The messages must say what to write instead."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from controller.model import Endpoint, Prompt, Rollout
from controller.model.experiment_settings import DEFAULT_TREATMENT_WEIGHT

ANALYSIS = {"metrics": [{"name": "error-rate", "max": 0.05}, {"name": "latency-p99", "max": "2s"}]}
EXPERIMENT = {"strategy": "experiment", "experiment": {"duration": "24h"}, "analysis": ANALYSIS}
TWO = [{"name": "primary", "model": "llm@1"}, {"name": "challenger", "model": "llm@2"}]


def endpoint(rollout: dict[str, Any], *, traffic: dict[str, int] | None = None) -> Endpoint:
    """An Endpoint with deployments primary and challenger, 50/50 unless `traffic` says otherwise."""
    spec = {"deployments": TWO, "traffic": traffic or {"primary": 50, "challenger": 50}, "rollout": rollout}
    return Endpoint.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Endpoint", "metadata": {"name": "chat"}, "spec": spec}
    )


def with_(base: dict[str, Any], **experiment: Any) -> dict[str, Any]:
    """The rollout `base` with these experiment settings added."""
    out = copy.deepcopy(base)
    out["experiment"].update(experiment)
    return out


def message(error: ValidationError) -> str:
    """Every error's message, joined."""
    return " | ".join(str(e["msg"]) for e in error.errors())


def test_an_experiment_takes_the_documented_defaults() -> None:
    settings = Rollout.model_validate(EXPERIMENT).experiment
    assert settings is not None
    assert (settings.duration, settings.weight, settings.control) == ("24h", None, None)
    assert (settings.min_requests, settings.confidence, settings.auto_promote) == (200, 0.95, False)
    assert settings.treatment_weight == DEFAULT_TREATMENT_WEIGHT


def test_camel_case_settings_fill_the_experiment() -> None:
    rollout = Rollout.model_validate(with_(EXPERIMENT, autoPromote=True, minRequests=1000, weight=10))
    assert rollout.experiment is not None
    assert (rollout.experiment.auto_promote, rollout.experiment.min_requests, rollout.experiment.treatment_weight) == (
        True,
        1000,
        10,
    )


@pytest.mark.parametrize(
    ("rollout", "fragment"),
    [
        pytest.param(
            {**EXPERIMENT, "steps": [{"weight": 10}]},
            "strategy 'experiment' keeps fixed weights: it takes no steps",
            id="steps",
        ),
        pytest.param({**EXPERIMENT, "stepWeight": 10}, "takes no steps, stepWeight", id="the canary shorthand"),
        pytest.param(
            {"strategy": "experiment", "analysis": ANALYSIS},
            "needs 'experiment' settings, at least a duration: experiment: {duration: 24h}",
            id="no settings",
        ),
        pytest.param(
            {"strategy": "experiment", "experiment": {"duration": "1h"}},
            "needs 'analysis' with the metrics that compare the variants",
            id="no analysis",
        ),
        pytest.param(
            {**EXPERIMENT, "analysis": {**ANALYSIS, "minRequests": 10}},
            "analysis.minRequests is a canary setting (judging one window at a time); "
            "an experiment judges its whole duration at once: remove it (experiment.minRequests",
            id="analysis minRequests",
        ),
        pytest.param(
            {**EXPERIMENT, "analysis": {**ANALYSIS, "failureLimit": 2, "dryRun": True}},
            "analysis.failureLimit, analysis.dryRun are canary settings",
            id="several canary-only analysis settings",
        ),
        pytest.param(
            {"strategy": "canary", "stepWeight": 10, "experiment": {"duration": "1h"}},
            "'experiment' settings apply only to strategy 'experiment' (this is 'canary')",
            id="experiment settings on a canary",
        ),
        pytest.param(
            {"strategy": "direct", "experiment": {"duration": "1h"}},
            "'experiment' settings apply only to strategy 'experiment' (this is 'direct')",
            id="experiment settings on direct",
        ),
        pytest.param(with_(EXPERIMENT, duration="30s"), "duration '30s' is too short: at least 60s", id="too short"),
        pytest.param(with_(EXPERIMENT, duration="800h"), "is too long: at most 720h", id="too long"),
        pytest.param({**EXPERIMENT, "experiment": {"weight": 10}}, "Field required", id="a duration is required"),
        pytest.param(with_(EXPERIMENT, weight=100), "less than or equal to 99", id="a weight leaving no control"),
        pytest.param(with_(EXPERIMENT, confidence=0.5), "greater than or equal to 0.8", id="a weak confidence"),
        pytest.param(with_(EXPERIMENT, autoPromte=True), "Extra inputs are not permitted", id="a typo"),
    ],
)
def test_a_rollout_refuses_what_does_not_fit_its_strategy_saying_what_to_write(
    rollout: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Rollout.model_validate(rollout)
    assert fragment in message(caught.value)


def test_canary_rollouts_are_unchanged_by_the_new_strategy() -> None:
    rollout = Rollout.model_validate({"strategy": "canary", "stepWeight": 10, "analysis": ANALYSIS})
    assert (rollout.strategy, rollout.experiment) == ("canary", None)


# --- endpoints ------------------------------------------------------------------------------------------


def test_an_endpoint_experiment_compares_its_deployments_with_the_first_listed_as_control() -> None:
    spec = endpoint(EXPERIMENT).spec
    assert (spec.experiment_control, spec.variant_weights) == ("primary", {"primary": 50, "challenger": 50})


def test_the_control_may_be_named() -> None:
    assert endpoint(with_(EXPERIMENT, control="challenger")).spec.experiment_control == "challenger"


def test_without_an_experiment_an_endpoint_has_no_control() -> None:
    assert endpoint({"strategy": "direct"}, traffic={"primary": 100, "challenger": 0}).spec.experiment_control is None


@pytest.mark.parametrize(
    ("rollout", "traffic", "fragment"),
    [
        pytest.param(
            EXPERIMENT,
            {"primary": 100, "challenger": 0},
            "an experiment compares deployments side by side: give at least two deployments traffic above 0 "
            "(traffic: {primary: 100, challenger: 0})",
            id="one deployment with traffic",
        ),
        pytest.param(
            with_(EXPERIMENT, control="shadow"),
            None,
            "rollout.experiment.control 'shadow' is not a deployment of this endpoint; name one of the deployments "
            "with traffic: primary, challenger",
            id="a control that is no deployment",
        ),
        pytest.param(
            with_(EXPERIMENT, weight=20),
            None,
            "rollout.experiment.weight is for prompts: an Endpoint experiment's variants keep the weights 'traffic' "
            "gives them ({primary: 50, challenger: 50}); remove 'weight'",
            id="a prompt's weight",
        ),
    ],
)
def test_an_endpoint_experiment_needs_two_deployments_with_traffic_and_a_control_among_them(
    rollout: dict[str, Any], traffic: dict[str, int] | None, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        endpoint(rollout, traffic=traffic)
    assert fragment in message(caught.value)


def test_a_control_without_traffic_is_refused_saying_so() -> None:
    three = [*TWO, {"name": "idle", "model": "llm@3"}]
    spec = {
        "deployments": three,
        "traffic": {"primary": 50, "challenger": 50, "idle": 0},
        "rollout": with_(EXPERIMENT, control="idle"),
    }
    with pytest.raises(ValidationError) as caught:
        Endpoint.model_validate(
            {"apiVersion": "genaiops/v1", "kind": "Endpoint", "metadata": {"name": "c"}, "spec": spec}
        )
    assert "rollout.experiment.control 'idle' carries no traffic" in message(caught.value)


# --- prompts (the same Rollout) -------------------------------------------------------------------------


def test_a_prompt_takes_an_experiment_with_its_treatment_weight() -> None:
    prompt = Prompt.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Prompt",
            "metadata": {"name": "greet"},
            "spec": {
                "model": "publishers/google/models/gemini-2.0-flash",
                "template": "Hello {name}",
                "labels": ["production"],
                "rollout": with_(EXPERIMENT, weight=20, autoPromote=True),
            },
        }
    )
    settings = prompt.spec.rollout.experiment
    assert settings is not None and (settings.treatment_weight, settings.auto_promote) == (20, True)
