"""Emulated Gemini model versions that differ, as a prompt canary needs them: a stable version, a candidate
and a deliberately bad one declared through the emulator's `gemini_models` option (the `--gemini-model`
flag), driven by the real google-genai SDK over REST and the gapic client over gRPC. They must differ
measurably in latency, error rate, safety-block rate and output tokens, replay the same outcomes for the
same seed, report their own `modelVersion`, and refuse malformed knobs naming the model."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.genai import errors, types

from controller.emulator.server import Emulator, running
from controller.emulator.vertex.gemini import FILLER, shaped, tokens
from controller.emulator.vertex.generate import check_models

REPO = Path(__file__).resolve().parents[2]
STABLE, CANDIDATE, BAD = "gemini-2.0-flash-001", "gemini-2.5-flash", "gemini-2.5-flash-bad"
MODELS = {
    STABLE: "latency_ms=20;latency_jitter_ms=0;error_rate=0.01;block_rate=0.01;output_tokens=60",
    CANDIDATE: "latency_ms=60;error_rate=0.02;output_tokens=120;output_tokens_jitter=20",
    BAD: "latency_ms=250;error_rate=0.3;error_code=503;block_rate=0.2;output_tokens=300",
    "gemini-2.0-flash": "latency_ms=30",  # a catalogue alias: reports its catalogue version
    "gemini-2.5-flash-002": "output_tokens=8",  # a version the catalogue does not know
    "gemini-2.5-flash-down": "error_rate=1;error_code=503",
}
CALLS = 200
SEED = 7
PROMPT = "Summarise ticket 4711 for the on-call engineer."


@dataclass(frozen=True)
class Outcome:
    """What one SDK call returned: `error` (the HTTP status), `blocked` (finish reason SAFETY) or `ok`."""

    kind: str
    status: int = 0
    text: str = ""
    candidates_tokens: int = 0
    model_version: str = ""


def _call(client: Any, model: str, prompt: str = PROMPT) -> Outcome:
    try:
        response = client.models.generate_content(model=model, contents=prompt)
    except errors.APIError as err:
        return Outcome("error", status=err.code)
    [candidate] = response.candidates or []
    usage = response.usage_metadata
    kind = "blocked" if candidate.finish_reason == types.FinishReason.SAFETY else "ok"
    return Outcome(
        kind,
        text=response.text or "",
        candidates_tokens=usage.candidates_token_count or 0,
        model_version=response.model_version or "",
    )


def _sample(emulator: Emulator, models: list[str], calls: int) -> dict[str, list[Outcome]]:
    """`calls` SDK calls per model, interleaved as a canary's traffic would be."""
    client = emulator.genai_client()
    seen: dict[str, list[Outcome]] = {m: [] for m in models}
    for _ in range(calls):
        for model in models:
            seen[model].append(_call(client, model))
    return seen


@pytest.fixture(scope="module")
def sampled() -> Iterator[dict[str, list[Outcome]]]:
    """200 seeded calls to each of the stable, candidate and bad versions (no real sleeping)."""
    with running(storage_port=None, gemini_models=MODELS, seed=SEED) as emulator:
        yield _sample(emulator, [STABLE, CANDIDATE, BAD], CALLS)


def _count(outcomes: list[Outcome], kind: str) -> int:
    return sum(o.kind == kind for o in outcomes)


def test_a_bad_version_fails_far_more_often_than_the_stable_one_over_200_seeded_calls(
    sampled: dict[str, list[Outcome]],
) -> None:
    # Binomial(200, 0.01) stays <= 10 and Binomial(200, 0.3) within 35..85 far beyond 4 standard deviations.
    assert _count(sampled[STABLE], "error") <= 10
    assert 35 <= _count(sampled[BAD], "error") <= 85
    assert {o.status for o in sampled[BAD] if o.kind == "error"} == {503}


def test_a_bad_version_is_safety_blocked_far_more_often_than_the_stable_one(
    sampled: dict[str, list[Outcome]],
) -> None:
    stable, bad = sampled[STABLE], sampled[BAD]
    assert _count(stable, "blocked") <= 8
    answered = len(bad) - _count(bad, "error")  # blocks are drawn for every call, seen only on the answered
    assert 0.1 * answered <= _count(bad, "blocked") <= 0.3 * answered
    assert all(o.text == "" and o.candidates_tokens == 0 for o in bad if o.kind == "blocked")


def test_versions_answer_with_their_configured_output_tokens(sampled: dict[str, list[Outcome]]) -> None:
    stable = [o for o in sampled[STABLE] if o.kind == "ok"]
    bad = [o for o in sampled[BAD] if o.kind == "ok"]
    candidate = [o.candidates_tokens for o in sampled[CANDIDATE] if o.kind == "ok"]
    assert {o.candidates_tokens for o in stable} == {60} and {tokens(o.text) for o in stable} == {60}
    assert {o.candidates_tokens for o in bad} == {300}
    assert all(100 <= n <= 140 for n in candidate) and len(set(candidate)) > 10
    assert 110 <= statistics.mean(candidate) <= 130
    assert all(o.text.startswith(PROMPT + " " + " ".join(FILLER[:3])) for o in stable + bad)


def test_every_answer_reports_the_version_that_served_it(sampled: dict[str, list[Outcome]]) -> None:
    for model in (STABLE, CANDIDATE, BAD):
        assert {o.model_version for o in sampled[model] if o.kind != "error"} == {model}


def test_the_same_seed_replays_the_same_outcomes_and_another_seed_does_not() -> None:
    runs = []
    for seed in (SEED, SEED, SEED + 1):
        with running(storage_port=None, gemini_models=MODELS, seed=seed) as emulator:
            runs.append(_sample(emulator, [CANDIDATE, BAD], 40))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_a_slow_version_is_measurably_slower_end_to_end_with_real_latency() -> None:
    models = {STABLE: "latency_ms=10;latency_jitter_ms=0", BAD: "latency_ms=600;latency_jitter_ms=0"}
    with running(storage_port=None, gemini_models=models, real_latency=True) as emulator:
        client = emulator.genai_client()
        seconds: dict[str, list[float]] = {STABLE: [], BAD: []}
        for _ in range(5):
            for model in (STABLE, BAD):
                started = time.perf_counter()
                assert _call(client, model).kind == "ok"
                seconds[model].append(time.perf_counter() - started)
    assert min(seconds[BAD]) >= 0.6
    assert statistics.median(seconds[STABLE]) < statistics.median(seconds[BAD]) - 0.3


def test_a_model_name_suffix_overrides_one_default_and_keeps_the_others() -> None:
    with running(storage_port=None, gemini_models=MODELS, seed=SEED) as emulator:
        client = emulator.genai_client()
        healed = [_call(client, f"{BAD};error_rate=0;block_rate=0") for _ in range(40)]
        shorter = _call(client, f"{BAD};output_tokens=5")
    assert {(o.kind, o.candidates_tokens, o.model_version) for o in healed} == {("ok", 300, BAD)}
    assert (shorter.candidates_tokens, shorter.model_version) == (5, BAD)


def test_configured_ids_report_their_model_version_over_rest_and_grpc() -> None:
    with running(storage_port=None, gemini_models=MODELS) as emulator:
        client = emulator.genai_client()
        assert _call(client, "gemini-2.0-flash").model_version == "gemini-2.0-flash-001"
        unknown_version = _call(client, "gemini-2.5-flash-002")
        assert (unknown_version.model_version, unknown_version.candidates_tokens) == ("gemini-2.5-flash-002", 8)
        down = _call(client, "gemini-2.5-flash-down")
        assert (down.kind, down.status) == ("error", 503)
        prediction = emulator.prediction_client()
        publisher = f"{emulator.parent}/publishers/google/models"
        contents = [{"role": "user", "parts": [{"text": PROMPT}]}]
        request = {"model": f"{publisher}/{BAD};error_rate=0;block_rate=0", "contents": contents}
        response = prediction.generate_content(request=request)
        assert response.model_version == BAD
        assert response.usage_metadata.candidates_token_count == 300
        events = list(prediction.stream_generate_content(request=request))
        assert "".join(e.candidates[0].content.parts[0].text for e in events) == shaped(PROMPT, 300)
        with pytest.raises(api_exceptions.ServiceUnavailable):
            prediction.generate_content(request={"model": f"{publisher}/gemini-2.5-flash-down", "contents": contents})


def test_max_output_tokens_and_stop_sequences_still_apply_to_a_padded_answer() -> None:
    with running(storage_port=None, gemini_models={BAD: "output_tokens=300"}) as emulator:
        client = emulator.genai_client()
        capped = client.models.generate_content(
            model=BAD, contents=PROMPT, config=types.GenerateContentConfig(max_output_tokens=20)
        )
        stopped = client.models.generate_content(
            model=BAD, contents=PROMPT, config=types.GenerateContentConfig(stop_sequences=[FILLER[0]])
        )
    assert capped.usage_metadata is not None and capped.usage_metadata.candidates_token_count == 20
    assert capped.candidates and capped.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert stopped.text == PROMPT + " "


@pytest.mark.parametrize(
    ("text", "n", "expected"),
    [
        ("hello", 0, "hello"),
        ("Summarise this please", 2, "Summaris"),
        ("hi", 3, "hi lorem ips"),
        ("", 3, "lorem ipsum"),
        ("abc", 1, "abc"),
    ],
)
def test_an_answer_is_cut_or_padded_with_filler_words_to_the_token_count(text: str, n: int, expected: str) -> None:
    assert shaped(text, n) == expected


@pytest.mark.parametrize("n", [1, 2, 5, 17, 64, 301])
@pytest.mark.parametrize("text", ["", "a", "ends in a space ", "Summarise ticket 4711 for the on-call engineer."])
def test_a_shaped_answer_has_exactly_the_requested_tokens_and_starts_with_the_echo(text: str, n: int) -> None:
    out = shaped(text, n)
    assert tokens(out) == n
    if len(text) >= 4 * n:
        assert out == text[: 4 * n]
    else:
        assert out.startswith(text) and not out.endswith(" ")
        padding = out[len(text) :].split()
        expected = [FILLER[i % len(FILLER)] for i in range(len(padding))]
        assert padding[:-1] == expected[:-1] and expected[-1].startswith(padding[-1])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("output_tokens=-1", "output_tokens='-1' must be a finite number >= 0 in 'gemini-2.5-flash-bad="),
        ("output_tokens=2.5", "output_tokens='2.5' must be a whole number in 'gemini-2.5-flash-bad="),
        ("output_tokens=many", "output_tokens='many' is not a number in 'gemini-2.5-flash-bad="),
        ("output_tokens_jitter=5", "output_tokens_jitter needs output_tokens in 'gemini-2.5-flash-bad="),
        ("latency_ms=slow", "latency_ms='slow' is not a number in 'gemini-2.5-flash-bad="),
        ("block_rate=2", "block_rate must be between 0 and 1 in 'gemini-2.5-flash-bad="),
        ("colour=blue", "unknown behaviour parameter(s) ['colour'] in 'gemini-2.5-flash-bad="),
    ],
)
def test_a_malformed_knob_is_refused_naming_the_model(params: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_models({BAD: params})
    assert message in str(refused.value)


@pytest.mark.parametrize("model_id", ["", "gemini-2.5-flash;error_rate=1", "publishers/google/models/x"])
def test_a_model_id_no_call_could_reach_is_refused(model_id: str) -> None:
    with pytest.raises(ValueError, match="must be a plain id"):
        check_models({model_id: "error_rate=0.1"})


def test_a_call_with_a_malformed_knob_is_a_client_error_naming_the_model() -> None:
    with running(storage_port=None, gemini_models=MODELS) as emulator:
        client = emulator.genai_client()
        with pytest.raises(errors.ClientError) as refused:
            client.models.generate_content(model=f"{BAD};output_tokens=1.5", contents="x")
    assert refused.value.code == 400
    assert "output_tokens='1.5' must be a whole number in 'gemini-2.5-flash-bad'" in (refused.value.message or "")


def _start(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "controller", "emulator", "start", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout, check=False)


def test_the_gemini_model_flag_refuses_a_malformed_knob_naming_the_model() -> None:
    done = _start("--port", "0", "--gemini-model", f"{BAD}=error_rate=0.3;output_tokens_jitter=4")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Invalid value for --gemini-model: output_tokens_jitter needs output_tokens in" in done.stderr
    assert BAD in done.stderr and "Traceback" not in done.stderr


def test_the_gemini_model_flag_help_lists_every_knob() -> None:
    done = _start("--help")
    assert done.returncode == 0, done.stderr
    help_text = " ".join(done.stdout.split())
    knobs = ("error_rate", "error_code", "latency_ms", "latency_jitter_ms", "block_rate", "prompt_block_rate")
    more = ("thinking_tokens", "cached_ratio", "chunks", "output_tokens", "output_tokens_jitter")
    assert all(knob in help_text for knob in knobs + more)


def test_a_model_declared_with_the_flag_is_served_with_its_behaviour() -> None:
    command = [sys.executable, "-m", "controller", "emulator", "start", "--port", "0", "--storage-port", "0"]
    command += ["--gemini-model", f"{BAD}=output_tokens=12;error_rate=0", "--gemini-model", f"{STABLE}=chunks=2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        rest = ""
        for line in process.stdout:
            lines.append(line)
            if line.strip().startswith("REST"):
                rest = line.split()[1]
            if "Press Ctrl-C" in line:
                break
        assert rest.startswith("http://127.0.0.1:"), "".join(lines)
        from google import genai
        from google.oauth2.credentials import Credentials

        client = genai.Client(
            vertexai=True,
            project="local-project",
            location="us-central1",
            credentials=Credentials(token="x"),  # type: ignore[no-untyped-call]
            http_options=types.HttpOptions(base_url=rest),
        )
        answer = _call(client, BAD, "hi")
        assert (answer.text, answer.candidates_tokens, answer.model_version) == (shaped("hi", 12), 12, BAD)
        events = list(client.models.generate_content_stream(model=STABLE, contents="two chunks"))
        assert [e.text for e in events] == ["two c", "hunks"]
    finally:
        process.terminate()
        process.wait(timeout=30)
