"""The emulator's GenAiTuningService through the real `aiplatform_v1.GenAiTuningServiceClient` over gRPC: jobs
validated like the API, moving PENDING -> RUNNING -> SUCCEEDED on the emulator's clock into a tuned model
deployed on its own endpoint, which answers GenerateContent (gRPC and the google-genai SDK over REST) with
what it learned; failure and quality behaviours, label filters, cancellation and the create counter."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from controller.emulator.server import Emulator, running
from controller.emulator.vertex.gemini import tokens
from controller.emulator.vertex.tuning import BAD_ANSWER

State = v1.JobState
BUCKET = "tuning-data"
TRAIN = f"gs://{BUCKET}/support/train.jsonl"
EXAMPLES = [("What is the refund window?", "30 days."), ("Do you ship abroad?", "Yes, to 40 countries.")]


def _jsonl(pairs: list[tuple[str, str]]) -> str:
    lines = [
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": q}]}, {"role": "model", "parts": [{"text": a}]}],
        }
        for q, a in pairs
    ]
    return "\n".join(json.dumps(line) for line in lines) + "\n"


@dataclass
class Clock:
    """The emulator's clock, moved by the tests."""

    now: float = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    emulator: Emulator
    tuning: Any  # v1.GenAiTuningServiceClient
    bucket: storage.Bucket
    clock: Clock

    def create(self, display_name: str = "support-tuned", uri: str = TRAIN, **fields: Any) -> Any:
        job = {
            "base_model": fields.pop("base_model", "gemini-2.5-flash"),
            "tuned_model_display_name": display_name,
            "supervised_tuning_spec": {"training_dataset_uri": uri, **fields.pop("spec", {})},
            **fields,
        }
        return self.tuning.create_tuning_job(parent=self.emulator.parent, tuning_job=job)

    def after(self, seconds: float, name: str) -> Any:
        self.clock.now += seconds
        return self.tuning.get_tuning_job(name=name)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    clock = Clock()
    with running(clock=clock, tuning_duration_s=10) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_host)
        client = storage.Client(project=emulator.project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        bucket = client.create_bucket(BUCKET)
        bucket.blob("support/train.jsonl").upload_from_string(_jsonl(EXAMPLES))
        yield Env(emulator, emulator.tuning_client(), bucket, clock)


def test_a_job_is_pending_then_running_then_succeeds_with_its_tuned_model_deployed_on_a_new_endpoint(env: Env) -> None:
    created = env.create(labels={"genaiops-tuning-hash": "abc", "managed-by": "genaiops"})
    assert re.fullmatch(rf"{env.emulator.parent}/tuningJobs/[0-9]+", created.name)
    assert created.state == State.JOB_STATE_PENDING
    assert dict(created.labels) == {"genaiops-tuning-hash": "abc", "managed-by": "genaiops"}
    assert not created.tuned_model.model

    running_job = env.after(2, created.name)
    assert running_job.state == State.JOB_STATE_RUNNING
    assert running_job.start_time.timestamp() == pytest.approx(env.clock.now)

    done = env.after(8, created.name)
    assert done.state == State.JOB_STATE_SUCCEEDED
    assert done.end_time.timestamp() == pytest.approx(env.clock.now)
    assert re.fullmatch(rf"{env.emulator.parent}/models/[0-9]+@1", done.tuned_model.model)
    assert re.fullmatch(rf"{env.emulator.parent}/endpoints/[0-9]+", done.tuned_model.endpoint)
    assert done.tuning_data_stats.supervised_tuning_data_stats.tuning_dataset_example_count == len(EXAMPLES)

    model = env.emulator.model_client().get_model(name=done.tuned_model.model)
    assert model.display_name == "support-tuned"
    assert model.labels["google-vertex-llm-tuning-job-id"] == created.name.rsplit("/", 1)[1]
    endpoint = env.emulator.endpoint_client().get_endpoint(name=done.tuned_model.endpoint)
    [deployed] = endpoint.deployed_models
    assert f"{deployed.model}@{deployed.model_version_id}" == done.tuned_model.model
    assert dict(endpoint.traffic_split) == {deployed.id: 100}
    assert env.after(100, created.name).tuned_model.endpoint == done.tuned_model.endpoint  # finished once


def _tuned_endpoint(env: Env, display_name: str = "support-tuned") -> str:
    created = env.create(display_name)
    done = env.after(10, created.name)
    assert done.state == State.JOB_STATE_SUCCEEDED
    return str(done.tuned_model.endpoint)


def test_the_tuned_endpoint_answers_trained_prompts_with_the_trained_answer_and_echoes_others_over_grpc(
    env: Env,
) -> None:
    endpoint = _tuned_endpoint(env)
    prediction = env.emulator.prediction_client()
    question, answer = EXAMPLES[0]
    trained = prediction.generate_content(model=endpoint, contents=[{"role": "user", "parts": [{"text": question}]}])
    assert trained.candidates[0].content.parts[0].text == answer
    assert trained.usage_metadata.prompt_token_count == tokens(question)
    assert trained.usage_metadata.candidates_token_count == tokens(answer)
    other = prediction.generate_content(model=endpoint, contents=[{"role": "user", "parts": [{"text": "Hello"}]}])
    assert other.candidates[0].content.parts[0].text == "Hello"


def test_the_tuned_endpoint_answers_the_google_genai_sdk_over_rest(env: Env) -> None:
    endpoint = _tuned_endpoint(env)
    question, answer = EXAMPLES[1]
    client = env.emulator.genai_client()  # kept: a collected client closes its HTTP connection
    response = client.models.generate_content(model=endpoint, contents=question)
    assert response.text == answer
    assert response.usage_metadata is not None
    assert response.usage_metadata.total_token_count == tokens(question) + tokens(answer)


def test_the_tuned_model_also_learned_the_validation_examples_which_the_stats_do_not_count(env: Env) -> None:
    env.bucket.blob("support/validation.jsonl").upload_from_string(_jsonl([("Is there a phone line?", "No.")]))
    spec = {"validation_dataset_uri": f"gs://{BUCKET}/support/validation.jsonl"}
    done = env.after(10, env.create(spec=spec).name)
    assert done.tuning_data_stats.supervised_tuning_data_stats.tuning_dataset_example_count == len(EXAMPLES)
    response = env.emulator.prediction_client().generate_content(
        model=done.tuned_model.endpoint, contents=[{"role": "user", "parts": [{"text": " Is there a phone line? "}]}]
    )
    assert response.candidates[0].content.parts[0].text == "No."


def test_a_tuned_model_of_bad_quality_answers_even_trained_prompts_wrongly(env: Env) -> None:
    endpoint = _tuned_endpoint(env, "support-tuned;quality=bad")
    question, _ = EXAMPLES[0]
    client = env.emulator.genai_client()
    response = client.models.generate_content(model=endpoint, contents=question)
    assert response.text == BAD_ANSWER


def test_the_tuned_model_takes_generate_content_behaviour_from_the_display_name(env: Env) -> None:
    endpoint = _tuned_endpoint(env, "support-tuned;block_rate=1")
    response = env.emulator.prediction_client().generate_content(
        model=endpoint, contents=[{"role": "user", "parts": [{"text": EXAMPLES[0][0]}]}]
    )
    assert response.candidates[0].finish_reason == v1.Candidate.FinishReason.SAFETY


@pytest.mark.parametrize(
    ("display_name", "uri"),
    [("support-tuned;tuning=fail", TRAIN), ("support-tuned", f"{TRAIN};tuning=fail")],
    ids=["display-name", "dataset-uri"],
)
def test_a_job_told_to_fail_ends_failed_with_an_error_and_no_tuned_model(env: Env, display_name: str, uri: str) -> None:
    created = env.create(display_name, uri)
    failed = env.after(10, created.name)
    assert failed.state == State.JOB_STATE_FAILED
    assert failed.error.code == grpc.StatusCode.INTERNAL.value[0]
    assert "tuning=fail" in failed.error.message
    assert not failed.tuned_model.model
    assert not list(env.emulator.endpoint_client().list_endpoints(parent=env.emulator.parent))


def test_a_dataset_of_invalid_examples_fails_the_job_with_invalid_argument(env: Env) -> None:
    env.bucket.blob("broken.jsonl").upload_from_string('{"contents": []}\n')
    failed = env.after(10, env.create(uri=f"gs://{BUCKET}/broken.jsonl").name)
    assert failed.state == State.JOB_STATE_FAILED
    assert failed.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "broken.jsonl line 1" in failed.error.message


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (f"gs://{BUCKET}/support/train.csv", "training_dataset_uri should be a GCS object of type JSONL."),
        ("/local/train.jsonl", "training_dataset_uri should be a GCS object of type JSONL."),
        (f"gs://{BUCKET}/missing.jsonl", f"gs://{BUCKET}/missing.jsonl does not exist."),
    ],
)
def test_a_training_dataset_that_is_not_an_existing_jsonl_object_is_refused_naming_the_field(
    env: Env, uri: str, message: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument) as raised:
        env.create(uri=uri)
    assert message in raised.value.message
    [detail] = [d for d in raised.value.details if isinstance(d, error_details_pb2.BadRequest)]
    assert [v.field for v in detail.field_violations] == ["tuning_job.supervised_tuning_spec.training_dataset_uri"]
    assert not list(env.tuning.list_tuning_jobs(parent=env.emulator.parent))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_model": ""}, "base_model is required."),
        ({"base_model": "text-bison"}, "Base model text-bison is not supported for tuning."),
        ({"spec": {"hyper_parameters": {"epoch_count": 0 - 1}}}, "epoch_count must be between 1 and 100."),
        ({"spec": {"hyper_parameters": {"learning_rate_multiplier": -1.0}}}, "learning_rate_multiplier must be"),
        ({"spec": {"hyper_parameters": {"adapter_size": "ADAPTER_SIZE_THIRTY_TWO"}}}, "The adapter size is not"),
        ({"labels": {"Bad": "x"}}, "Invalid label key"),
    ],
)
def test_a_job_with_a_bad_base_model_hyper_parameter_or_label_is_refused(
    env: Env, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(exceptions.InvalidArgument, match=re.escape(message)):
        env.create(**fields)


def test_an_unknown_behaviour_parameter_is_refused_rather_than_ignored(env: Env) -> None:
    with pytest.raises(exceptions.InvalidArgument, match="Unknown emulated tuning behaviour"):
        env.create("support-tuned;qualty=bad")


def test_listing_filters_jobs_by_label_and_pages_them(env: Env) -> None:
    first = env.create(labels={"genaiops-tuning-hash": "abc"})
    env.create(labels={"genaiops-tuning-hash": "def"})
    second = env.create(labels={"genaiops-tuning-hash": "abc"})
    parent = env.emulator.parent
    found = list(env.tuning.list_tuning_jobs(request={"parent": parent, "filter": 'labels.genaiops-tuning-hash="abc"'}))
    assert [j.name for j in found] == [second.name, first.name]  # newest first
    pages = env.tuning.list_tuning_jobs(request={"parent": parent, "page_size": 2}).pages
    assert [len(p.tuning_jobs) for p in pages] == [2, 1]
    with pytest.raises(exceptions.InvalidArgument):
        list(env.tuning.list_tuning_jobs(request={"parent": parent, "filter": "labels.x=1 OR labels.y=2"}))


def test_a_cancelled_job_ends_cancelled_with_code_1_and_a_finished_job_cannot_be_cancelled(env: Env) -> None:
    created = env.create()
    env.clock.now += 3
    env.tuning.cancel_tuning_job(name=created.name)
    cancelled = env.after(30, created.name)
    assert cancelled.state == State.JOB_STATE_CANCELLED
    assert cancelled.error.code == 1
    assert not cancelled.tuned_model.model
    with pytest.raises(exceptions.FailedPrecondition):
        env.tuning.cancel_tuning_job(name=created.name)
    with pytest.raises(exceptions.NotFound):
        env.tuning.get_tuning_job(name=f"{env.emulator.parent}/tuningJobs/123")


def test_get_info_counts_every_create_call_that_reached_the_emulator(env: Env) -> None:
    env.create()
    with pytest.raises(exceptions.InvalidArgument):
        env.create(base_model="")
    get_info = env.emulator.channel.unary_unary(
        "/genaiops.emulator.v1.Admin/GetInfo",
        request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )
    info = get_info(struct_pb2.Struct())
    assert dict(info["createCalls"]) == {"CreateTuningJob": 2, "CreatePipelineJob": 0, "CreateSchedule": 0}
    assert env.emulator.vertex.create_calls()["CreateTuningJob"] == 2
