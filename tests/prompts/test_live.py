"""`genaiops prompts test --live` against the emulator's PredictionService through the real aiplatform_v1
client: the emulator echoes the instance, so the response is the instance's JSON holding the rendered
prompt. A publisher model is not served by the emulator, and the error says what to do."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1 as v1

from controller.cli.main import main
from controller.emulator.server import Emulator, running
from controller.loader import load
from controller.model import Prompt
from controller.prompts.live import LiveTarget, live_target, predict_instance
from controller.prompts.render import RenderedPrompt
from tests.prompts.conftest import prompt_yaml

REGISTRY = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: llm}
spec:
  upload:
    artifactUri: gs://emulator-models/llm/v1
    servingContainer: {imageUri: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest}
---
apiVersion: genaiops/v1
kind: Endpoint
metadata: {name: chat}
spec:
  deployments: [{name: primary, model: llm, machineType: n1-standard-2}]
  traffic: {primary: 100}
"""

TESTS = """\
generationConfig: {temperature: 0.1, maxOutputTokens: 64}
systemInstruction: Be kind.
tests:
  - name: echo-holds-the-prompt
    vars: {customer: Ada}
    assert:
      - {type: is-json}
      - {type: contains, value: "Hello Ada!"}
      - {type: regex, value: '"max_tokens": 64'}
  - name: echo-is-not-an-answer
    vars: {customer: Bo}
    assert:
      - {type: not-contains, value: Bo}
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """An emulator with endpoint `chat` serving model `llm` (created through the real gapic clients)."""
    with running(rest_port=None, storage_port=None) as emu:
        model = v1.Model(
            display_name="llm",
            artifact_uri="gs://emulator-models/llm/v1",
            container_spec={"image_uri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"},
        )
        request = {"parent": emu.parent, "model": model, "model_id": "llm"}
        uploaded = emu.model_client().upload_model(request=request).result(timeout=10)
        endpoints = emu.endpoint_client()
        request = {"parent": emu.parent, "endpoint": v1.Endpoint(display_name="chat"), "endpoint_id": "chat"}
        endpoint = endpoints.create_endpoint(request=request).result(timeout=10)
        deployed = v1.DeployedModel(
            model=uploaded.model,
            dedicated_resources={"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 1},
        )
        endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed, traffic_split={"0": 100}).result(
            timeout=10
        )
        yield emu


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def test_live_tests_call_the_endpoint_that_deploys_the_prompts_model(
    emulator: Emulator, write: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write({"registry.yaml": REGISTRY, "p.yaml": prompt_yaml(model="llm", extra=TESTS)})
    code = run(["prompts", "test", str(root), "--live", "--emulator", emulator.grpc_target])
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert "PASS greet / echo-holds-the-prompt" in printed
    assert "FAIL greet / echo-is-not-an-answer" in printed  # the echo contains the prompt, so "Bo" is there
    assert "1 passed, 1 failed, 0 errors, 0 skipped" in printed and "(live)" in printed


GEMINI_TESTS = """\
generationConfig: {temperature: 0.1, maxOutputTokens: 64}
tests:
  - name: gemini-echoes-the-prompt
    vars: {customer: Ada}
    assert:
      - {type: contains, value: "Hello Ada!"}
  - name: echo-is-not-an-answer
    vars: {customer: Bo}
    assert:
      - {type: not-contains, value: Bo}
"""


def test_a_publisher_model_on_the_emulator_is_called_through_generate_content(
    emulator: Emulator, write: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = write({"p.yaml": prompt_yaml(extra=GEMINI_TESTS)})
    code = run(["prompts", "test", str(root), "--live", "--emulator", emulator.grpc_target])
    printed = capsys.readouterr().out
    assert "PASS greet / gemini-echoes-the-prompt" in printed, printed
    assert "FAIL greet / echo-is-not-an-answer" in printed
    assert code == 1  # echo-is-not-an-answer fails: the emulated Gemini echoes
    capsys.readouterr()
    code = run(["prompts", "test", str(root), "--live", "--emulator", emulator.grpc_target, "--endpoint", "chat"])
    assert "PASS greet / gemini-echoes-the-prompt" in capsys.readouterr().out  # Predict on an endpoint still works
    assert code == 1


def test_live_needs_a_project_or_an_emulator(
    write: Callable[..., Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GENAIOPS_EMULATOR", raising=False)
    root = write({"p.yaml": prompt_yaml(extra=TESTS)})
    assert run(["prompts", "test", str(root), "--live"]) == 1
    assert "--live needs --project" in capsys.readouterr().err


def test_the_live_target_follows_the_model_reference(write: Callable[..., Path]) -> None:
    root = write({"registry.yaml": REGISTRY, "p.yaml": prompt_yaml(model="llm"), "q.yaml": prompt_yaml("q")})
    manifests = [item.manifest for item in load(root).manifests]
    by_name = {m.metadata.name: m for m in manifests if isinstance(m, Prompt)}
    assert live_target(by_name["greet"], manifests, project="p") == LiveTarget(
        "endpoint", "projects/p/locations/us-central1/endpoints/chat"
    )
    assert live_target(by_name["q"], manifests, project="p", region="europe-west4") == LiveTarget(
        "publisher", "projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash"
    )


def test_the_predict_instance_uses_the_open_model_serving_convention() -> None:
    rendered = RenderedPrompt(
        "greet", "Hi", "llm", "Be kind.", {"temperature": 0.0, "maxOutputTokens": 8, "stopSequences": ["\n"]}
    )
    assert predict_instance(rendered) == {
        "prompt": "Be kind.\n\nHi",
        "temperature": 0.0,
        "max_tokens": 8,
        "stop": ["\n"],
    }
    assert json.dumps(predict_instance(RenderedPrompt("g", "Hi", "llm"))) == '{"prompt": "Hi"}'
