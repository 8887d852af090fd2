"""Pure model helpers: durations, model references, and what the kinds accept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from controller.loader import load
from controller.model import Endpoint, Model, check_duration, duration_seconds, is_reserved_label, split_model_ref
from controller.model.common import Metadata


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("250ms", 0.25), ("2m10s", 130), ("0s", 0)],
)
def test_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "1d", "-5s", "5M", "1.5h", "s5"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        duration_seconds(text)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("support-llm", ("support-llm", None)), ("support-llm@3", ("support-llm", "3")), ("m@stable", ("m", "stable"))],
)
def test_model_references_split_into_name_and_version(ref: str, expected: tuple[str, str | None]) -> None:
    assert split_model_ref(ref) == expected


@pytest.mark.parametrize("ref", ["Support", "m@", "m@0", "@3", "m@3@4"])
def test_malformed_model_references_are_refused(ref: str) -> None:
    with pytest.raises(ValueError, match="invalid model reference"):
        split_model_ref(ref)


def test_manifests_are_frozen() -> None:
    metadata = Metadata(name="a")
    with pytest.raises(ValidationError):
        metadata.name = "b"


def test_an_endpoint_built_in_python_gets_the_documented_defaults() -> None:
    endpoint = Endpoint.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Endpoint",
            "metadata": {"name": "e"},
            "spec": {"deployments": [{"name": "main", "model": "m@2"}], "traffic": {"main": 100}},
        }
    )
    deployment = endpoint.spec.deployments[0]
    assert (deployment.model_name, deployment.model_version) == ("m", "2")
    assert deployment.machine_type == "n1-standard-4"
    assert endpoint.spec.rollout.strategy == "direct"
    assert endpoint.spec.region == "us-central1"
    assert endpoint.spec.deletion_policy == "delete"


def test_a_publisher_model_needs_no_upload() -> None:
    model = Model.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Model",
            "metadata": {"name": "gemini"},
            "spec": {"publisher": "publishers/google/models/gemini-2.0-flash"},
        }
    )
    assert model.spec.is_publisher


def test_manifests_without_a_region_take_the_default_region(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: genaiops/v1\nkind: Endpoint\nmetadata: {name: a}\nspec:\n"
        "  deployments: [{name: d, model: m}]\n  traffic: {d: 100}\n---\n"
        "apiVersion: genaiops/v1\nkind: Model\nmetadata: {name: m}\nspec:\n  region: us-central1\n"
        "  upload: {artifactUri: gs://bk/m, servingContainer: {imageUri: img}}\n",
        encoding="utf-8",
    )
    result = load(tmp_path, default_region="europe-west4")
    regions = {item.manifest.kind: item.manifest.spec.region for item in result.manifests}  # type: ignore[union-attr]
    assert regions == {"Endpoint": "europe-west4", "Model": "us-central1"}
    assert any("Vertex AI deploys only within one region" in d.summary for d in result.diagnostics)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("720h", None), ("721h", "too long: at most 720h (30 days)"), ("99999999999999999999h", "too long")],
)
def test_durations_are_bounded_at_thirty_days(text: str, fragment: str | None) -> None:
    if fragment is None:
        assert check_duration(text) == text
        return
    with pytest.raises(ValueError, match=re.escape(fragment)):
        check_duration(text)


def test_yaml_integers_still_fill_strict_integer_fields_and_float_fields_take_integers() -> None:
    endpoint = Endpoint.model_validate(
        yaml.safe_load(
            """
            apiVersion: genaiops/v1
            kind: Endpoint
            metadata: {name: chat}
            spec:
              deployments: [{name: primary, model: chat-llm, minReplicas: 2}]
              traffic: {primary: 100}
              rollout:
                strategy: canary
                steps: [{weight: 10}]
                analysis: {minRequests: 5, metrics: [{name: error-rate, max: 1}]}
            """
        )
    )
    assert endpoint.spec.traffic == {"primary": 100}
    assert endpoint.spec.deployments[0].min_replicas == 2
    assert endpoint.spec.rollout.analysis is not None
    assert endpoint.spec.rollout.analysis.metrics[0].max == 1


@pytest.mark.parametrize("key", ["managed-by", "genaiops-ro-phase", "genaiops-retain", "genaiops-anything"])
def test_reserved_label_keys_are_refused_naming_the_key(key: str) -> None:
    assert is_reserved_label(key)
    with pytest.raises(ValidationError, match=f"label key '{key}' is reserved"):
        Metadata(name="a", labels={key: "x"})


def test_ordinary_label_keys_are_not_reserved() -> None:
    assert not is_reserved_label("team")
    assert not is_reserved_label("managed")
    assert Metadata(name="a", labels={"team": "support", "genaiops": "x"}).labels["genaiops"] == "x"
