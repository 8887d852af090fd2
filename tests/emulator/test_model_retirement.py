"""Gemini model retirement on the emulator, through the real clients (google-genai over REST, the aiplatform_v1
gapic clients over gRPC): a publisher model answers on its last day (the bundled model catalogue's `retires`)
and 404 NOT_FOUND the day after, for generate, stream and countTokens; an alias retires with its version; the
day comes from `today=`, `emulator start --today`, GENAIOPS_TODAY or the clock, and moves at run time over the
admin RPC SetToday; tuning a retired base model is refused, and a tuned model retires with its base."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google import genai
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.cloud import storage
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from controller.emulator.calendar import emulator_today, set_emulator_today
from controller.emulator.server import Emulator, running
from controller.model.catalogue.lifecycle import model_catalogue

REPO = Path(__file__).resolve().parents[2]
VERSION, ALIAS = "gemini-2.0-flash-001", "gemini-2.0-flash"
_ROW = model_catalogue().find(VERSION)
assert _ROW is not None and _ROW.retires is not None and ALIAS in _ROW.aliases
LAST_DAY: date = _ROW.retires
DAY_AFTER: date = LAST_DAY + timedelta(days=1)  # the first day a call to it fails
BUCKET = "tuning-data"
TRAIN = f"gs://{BUCKET}/train.jsonl"


def _genai(emulator: Emulator, kept: list[genai.Client]) -> genai.Client:
    made = genai.Client(
        vertexai=True,
        project=emulator.project,
        location=emulator.location,
        credentials=Credentials(token="fake"),  # type: ignore[no-untyped-call]
        http_options=types.HttpOptions(base_url=emulator.rest_endpoint),
    )
    kept.append(made)  # a genai.Client closes its HTTP client when garbage collected
    return made


@pytest.fixture
def kept() -> list[genai.Client]:
    """google-genai clients kept alive for the test's duration."""
    return []


@pytest.fixture
def last_day() -> Iterator[Emulator]:
    """An emulator (no Cloud Storage) starting on gemini-2.0-flash-001's last day."""
    with running(storage_port=None, today=LAST_DAY) as emulator:
        yield emulator


def _publisher(emulator: Emulator, model: str) -> str:
    return f"projects/{emulator.project}/locations/{emulator.location}/publishers/google/models/{model}"


def _rest_calls_succeed(client: genai.Client, model: str) -> str:
    """generate, stream and countTokens all answer; returns the reported modelVersion."""
    response = client.models.generate_content(model=model, contents="hello there")
    assert response.text == "hello there"
    assert "".join(e.text or "" for e in client.models.generate_content_stream(model=model, contents="hi")) == "hi"
    assert client.models.count_tokens(model=model, contents="four").total_tokens == 1
    return response.model_version or ""


def _rest_calls_are_404(client: genai.Client, model: str, name: str) -> None:
    calls = (
        lambda: client.models.generate_content(model=model, contents="x"),
        lambda: list(client.models.generate_content_stream(model=model, contents="x")),
        lambda: client.models.count_tokens(model=model, contents="x"),
    )
    for call in calls:
        with pytest.raises(errors.ClientError) as refused:
            call()
        assert (refused.value.code, refused.value.status) == (404, "NOT_FOUND")
        assert f"Publisher Model `{name}` was not found" in (refused.value.message or "")


def test_a_model_answers_on_its_last_day_and_404_the_day_after_over_rest(
    last_day: Emulator, kept: list[genai.Client]
) -> None:
    client = _genai(last_day, kept)
    assert _rest_calls_succeed(client, VERSION) == VERSION
    assert set_emulator_today(last_day.channel, DAY_AFTER) == DAY_AFTER
    _rest_calls_are_404(client, VERSION, _publisher(last_day, VERSION))
    url = f"{last_day.rest_endpoint}/v1/{_publisher(last_day, VERSION)}:generateContent"
    raw = httpx.post(url, json={"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
    assert raw.status_code == 404
    body = raw.json()
    assert set(body) == {"error"} and (body["error"]["code"], body["error"]["status"]) == (404, "NOT_FOUND")
    assert body["error"]["message"].startswith(f"Publisher Model `{_publisher(last_day, VERSION)}` was not found")
    assert _rest_calls_succeed(client, "gemini-3.5-flash-lite") == "gemini-3.5-flash-lite"  # not retired


def test_over_grpc_generate_its_stream_and_count_tokens_are_not_found_the_day_after(last_day: Emulator) -> None:
    prediction, utility = last_day.prediction_client(), last_day.llm_utility_client()
    name = _publisher(last_day, VERSION)
    request = {"model": name, "contents": [{"role": "user", "parts": [{"text": "over gRPC"}]}]}
    count = {"endpoint": name, "contents": request["contents"]}
    assert prediction.generate_content(request=request).model_version == VERSION
    assert len(list(prediction.stream_generate_content(request=request))) >= 1
    assert utility.count_tokens(request=count).total_tokens == 3
    set_emulator_today(last_day.channel, DAY_AFTER)
    for call in (
        lambda: prediction.generate_content(request=request, retry=None),
        lambda: list(prediction.stream_generate_content(request=request, retry=None)),
        lambda: utility.count_tokens(request=count, retry=None),
    ):
        with pytest.raises(exceptions.NotFound, match="was not found or your project does not have access"):
            call()


def test_an_alias_reports_its_version_and_retires_with_it(kept: list[genai.Client]) -> None:
    extra = {VERSION: "latency_ms=5", "gemini-made-up": "latency_ms=5"}
    with running(storage_port=None, today=LAST_DAY, gemini_models=extra) as emulator:
        client = _genai(emulator, kept)
        assert _rest_calls_succeed(client, ALIAS) == VERSION
        set_emulator_today(emulator.channel, DAY_AFTER)
        _rest_calls_are_404(client, ALIAS, _publisher(emulator, ALIAS))
        _rest_calls_are_404(client, VERSION, _publisher(emulator, VERSION))  # configured, still retired
        assert _rest_calls_succeed(client, "gemini-made-up") == "gemini-made-up"  # no row: never retires


def test_set_today_moves_the_day_both_ways_and_a_malformed_day_is_invalid_argument(
    kept: list[genai.Client],
) -> None:
    with running(storage_port=None, today=DAY_AFTER) as emulator:
        client = _genai(emulator, kept)
        assert emulator_today(emulator.channel) == DAY_AFTER
        _rest_calls_are_404(client, VERSION, _publisher(emulator, VERSION))
        assert set_emulator_today(emulator.channel, LAST_DAY.isoformat()) == LAST_DAY
        assert _rest_calls_succeed(client, VERSION) == VERSION
        assert set_emulator_today(emulator.channel, None) == DAY_AFTER  # "": back to the start day
        _rest_calls_are_404(client, VERSION, _publisher(emulator, VERSION))
        for bad in ("2026-02-30", "tomorrow"):
            with pytest.raises(grpc.RpcError) as refused:
                set_emulator_today(emulator.channel, bad)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
            assert "YYYY-MM-DD" in refused.value.details()  # type: ignore[attr-defined]
        assert emulator_today(emulator.channel) == DAY_AFTER


def test_genaiops_today_sets_the_default_day_and_without_it_the_clock_does(
    monkeypatch: pytest.MonkeyPatch, kept: list[genai.Client]
) -> None:
    monkeypatch.setenv("GENAIOPS_TODAY", DAY_AFTER.isoformat())
    with running(storage_port=None) as emulator:
        client = _genai(emulator, kept)
        _rest_calls_are_404(client, VERSION, _publisher(emulator, VERSION))
        monkeypatch.setenv("GENAIOPS_TODAY", LAST_DAY.isoformat())  # read when asked
        assert _rest_calls_succeed(client, VERSION) == VERSION
    monkeypatch.delenv("GENAIOPS_TODAY")
    noon_after = datetime(DAY_AFTER.year, DAY_AFTER.month, DAY_AFTER.day, 12, tzinfo=UTC).timestamp()
    with running(storage_port=None, clock=lambda: noon_after) as emulator:
        assert emulator_today(emulator.channel) == DAY_AFTER
        _rest_calls_are_404(_genai(emulator, kept), VERSION, _publisher(emulator, VERSION))


def test_emulator_start_accepts_today_and_refuses_a_malformed_one() -> None:
    command = [sys.executable, "-m", "controller", "emulator", "start", "--port", "0", "--today"]
    environ = {**os.environ, "PYTHONUNBUFFERED": "1"}
    refused = subprocess.run(
        [*command, "2026-02-30"], capture_output=True, text=True, cwd=REPO, env=environ, timeout=60, check=False
    )
    assert refused.returncode == 1 and "Invalid value for '--today'" in refused.stderr, refused.stderr
    process = subprocess.Popen(
        [*command, DAY_AFTER.isoformat()], stdout=subprocess.PIPE, text=True, cwd=REPO, env=environ
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or "Press Ctrl-C to stop" not in lines[-1]:
            lines.append(process.stdout.readline())
            assert lines[-1], lines  # the emulator exited before printing its addresses
        target = next(line.split()[1] for line in lines if line.strip().startswith("gRPC"))
        assert any(f"Today is {DAY_AFTER.isoformat()} (start)" in line for line in lines), lines
        with grpc.insecure_channel(target) as channel:
            assert emulator_today(channel) == DAY_AFTER
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- tuning ---------------------------------------------------------------------------------------------------


@dataclass
class Clock:
    """The emulator's clock, moved by the tests (the calendar's day is set apart from it)."""

    now: float = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Tuning:
    emulator: Emulator
    client: Any  # v1.GenAiTuningServiceClient
    clock: Clock

    def create(self, base_model: str = VERSION) -> Any:
        job = {
            "base_model": base_model,
            "tuned_model_display_name": "support-tuned",
            "supervised_tuning_spec": {"training_dataset_uri": TRAIN},
        }
        return self.client.create_tuning_job(parent=self.emulator.parent, tuning_job=job)


@pytest.fixture
def tuning(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tuning]:
    """An emulator with Cloud Storage holding a training set, starting on gemini-2.0-flash-001's last day."""
    clock = Clock()
    with running(clock=clock, tuning_duration_s=10, today=LAST_DAY) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.storage_host)
        gcs = storage.Client(project=emulator.project, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        line = {"contents": [{"role": "user", "parts": [{"text": "Q?"}]}, {"role": "model", "parts": [{"text": "A."}]}]}
        gcs.create_bucket(BUCKET).blob("train.jsonl").upload_from_string(json.dumps(line) + "\n")
        yield Tuning(emulator, emulator.tuning_client(), clock)


def test_tuning_a_retired_base_model_is_refused_naming_its_last_day(tuning: Tuning) -> None:
    set_emulator_today(tuning.emulator.channel, DAY_AFTER)
    for base in (VERSION, f"publishers/google/models/{ALIAS}"):
        with pytest.raises(exceptions.InvalidArgument) as refused:
            tuning.create(base)
        assert f"{LAST_DAY.isoformat()} was its last available day" in refused.value.message
    assert tuning.create("gemini-3.5-flash").state == v1.JobState.JOB_STATE_PENDING


def test_a_tuned_model_answers_404_once_its_base_model_retires(tuning: Tuning, kept: list[genai.Client]) -> None:
    created = tuning.create()
    tuning.clock.now += 11
    done = tuning.client.get_tuning_job(name=created.name)
    assert done.state == v1.JobState.JOB_STATE_SUCCEEDED
    endpoint = done.tuned_model.endpoint
    request = {"model": endpoint, "contents": [{"role": "user", "parts": [{"text": "Q?"}]}]}
    prediction, client = tuning.emulator.prediction_client(), _genai(tuning.emulator, kept)
    assert prediction.generate_content(request=request).candidates[0].content.parts[0].text == "A."
    assert client.models.generate_content(model=endpoint, contents="Q?").text == "A."
    set_emulator_today(tuning.emulator.channel, DAY_AFTER)
    base = _publisher(tuning.emulator, VERSION)
    with pytest.raises(exceptions.NotFound, match=f"Publisher Model `{base}` was not found"):
        prediction.generate_content(request=request, retry=None)
    with pytest.raises(errors.ClientError) as refused:
        client.models.generate_content(model=endpoint, contents="Q?")
    assert (refused.value.code, refused.value.status) == (404, "NOT_FOUND")
    with pytest.raises(exceptions.NotFound):
        tuning.emulator.llm_utility_client().count_tokens(
            request={"endpoint": endpoint, "contents": request["contents"]}, retry=None
        )
    set_emulator_today(tuning.emulator.channel, LAST_DAY)
    assert prediction.generate_content(request=request).candidates[0].content.parts[0].text == "A."
