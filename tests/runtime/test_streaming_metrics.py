"""The runtime's streaming metrics: a streamed answer's time to first token and output tokens per second,
measured by the client on its timer, carried by the RequestRecord with the endpoint and deployed model that
answered, and aggregated into the `time_to_first_token` / `output_tokens_per_second` distributions with
bounded labels; a whole answer has neither."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.prompts.client import PromptClient
from controller.providers.prompt_store import LocalPromptStore
from controller.runtime import GenAIClient
from controller.runtime.aggregate import (
    MAX_STREAM_TARGETS,
    OTHER,
    STREAM_LABEL_KEYS,
    TIME_TO_FIRST_TOKEN,
    TOKENS_PER_SECOND,
    Aggregator,
    Distribution,
    percentile,
)
from controller.runtime.core import endpoint_id_of
from controller.runtime.model import EndpointApi, ModelAnswer, ModelRequest, TextModel
from controller.runtime.records import Outcome, RequestRecord, Usage
from controller.runtime.streaming import StreamTiming
from tests.runtime.conftest import PROJECT, Records, publish_version, version

ENDPOINT = f"projects/{PROJECT}/locations/us-central1/endpoints/4242"


class Clock:
    """A timer the fake model moves on."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class PacedModel:
    """Streams `pieces` after `ttft_s`, one every `gap_s`, reporting `output_tokens` and the deployed model."""

    clock: Clock
    ttft_s: float = 0.06
    gap_s: float = 0.01
    pieces: tuple[str, ...] = ("", "Hello", " there", " friend")  # a role-only first chunk, as vLLM sends
    output_tokens: int = 12
    deployed_model_id: str | None = "dm-new"
    calls: list[str] = field(default_factory=list)

    def generate(self, request: ModelRequest) -> ModelAnswer:
        self.calls.append("generate")
        self.clock.now += self.ttft_s
        return ModelAnswer("Hello there friend", Usage(3, self.output_tokens), "STOP", None, (), None, "dm-new")

    def stream(self, request: ModelRequest) -> Iterator[ModelAnswer]:
        self.calls.append("stream")
        for i, piece in enumerate(self.pieces):
            if piece and i == 1:
                self.clock.now += self.ttft_s
            elif piece:
                self.clock.now += self.gap_s
            last = i == len(self.pieces) - 1
            yield ModelAnswer(
                piece,
                Usage(3, self.output_tokens) if last else None,
                "STOP" if last else None,
                deployed_model_id=self.deployed_model_id,
            )


@dataclass
class Router:
    model: PacedModel

    def model_for(self, name: str, *, api: EndpointApi | None = None) -> TextModel:
        return self.model


def _client(tmp_path: Path, model: PacedModel, records: Records, *, model_name: str = ENDPOINT) -> GenAIClient:
    store = LocalPromptStore(tmp_path / "prompts")
    publish_version(store, version(model=model_name))
    client = GenAIClient(PromptClient(store, project=PROJECT), Router(model), recorder=records, cache="off")
    client.core.timer = model.clock
    return client


def test_a_streamed_answer_records_its_time_to_first_token_and_tokens_per_second(tmp_path: Path) -> None:
    clock, records = Clock(), Records()
    model = PacedModel(clock)
    stream = _client(tmp_path, model, records).stream("support", {"question": "hi"})
    assert "".join(stream) == "Hello there friend"
    [record] = records.records
    assert record.time_to_first_token_s == pytest.approx(0.06)  # the empty role chunk does not count
    assert record.tokens_per_second == pytest.approx(12 / 0.02)  # output tokens / (end - first text)
    assert (record.endpoint_id, record.deployed_model_id) == ("4242", "dm-new")
    assert stream.result is not None and stream.result.outcome is Outcome.OK


def test_a_whole_answer_records_neither_streaming_metric(tmp_path: Path) -> None:
    clock, records = Clock(), Records()
    _client(tmp_path, PacedModel(clock), records).generate("support", {"question": "hi"})
    [record] = records.records
    assert record.time_to_first_token_s is None and record.tokens_per_second is None
    assert record.deployed_model_id is None


def test_a_stream_without_text_has_no_time_to_first_token_nor_rate() -> None:
    timing = StreamTiming(started=1.0, first_token=None, ended=2.0)
    assert timing.time_to_first_token_s is None and timing.tokens_per_second(10) is None
    single = StreamTiming(started=1.0, first_token=1.5, ended=1.5)  # everything came in the first chunk
    assert single.time_to_first_token_s == pytest.approx(0.5) and single.tokens_per_second(10) is None


def test_only_an_endpoint_model_name_gives_an_endpoint_id() -> None:
    assert endpoint_id_of(ENDPOINT) == "4242"
    assert endpoint_id_of("publishers/google/models/gemini-2.5-flash") is None
    assert endpoint_id_of("gemini-2.5-flash") is None


def _record(
    ttft_s: float | None, tps: float | None, *, endpoint: str | None = "4242", dm: str | None = "d1"
) -> RequestRecord:
    return RequestRecord(
        request_id="r",
        prompt="support",
        version="v1",
        label="production",
        model=ENDPOINT,
        outcome=Outcome.OK,
        latency_s=0.2,
        usage=Usage(3, 12),
        cost_usd=0.0,
        cache_hit=False,
        at=0.0,
        time_to_first_token_s=ttft_s,
        tokens_per_second=tps,
        endpoint_id=endpoint,
        deployed_model_id=dm,
    )


def test_streamed_records_aggregate_into_distributions_labelled_by_endpoint_and_deployed_model() -> None:
    agg = Aggregator(start=0.0)
    for first_token_s in (0.02, 0.02, 0.06):
        agg.add_request(_record(first_token_s, 200.0))
    agg.add_request(_record(0.06, 66.0, dm="d2"))
    agg.add_request(_record(None, None))  # a whole answer: no streaming series
    streamed = {(m, labels): v for m, labels, v in agg.series() if m in (TIME_TO_FIRST_TOKEN, TOKENS_PER_SECOND)}
    d1 = (
        ("deployed_model_id", "d1"),
        ("endpoint_id", "4242"),
        ("label", "production"),
        ("model", ENDPOINT),
        ("prompt", "support"),
        ("version", "v1"),
    )
    ttft = streamed[(TIME_TO_FIRST_TOKEN, d1)]
    assert isinstance(ttft, Distribution) and ttft.count == 3
    assert ttft.mean == pytest.approx(100 / 3)  # ms
    p50 = percentile(ttft, 50)
    assert p50 is not None and 15 < p50 < 25
    rate = streamed[(TOKENS_PER_SECOND, d1)]
    assert isinstance(rate, Distribution) and rate.count == 3 and rate.mean == pytest.approx(200.0)
    assert len(streamed) == 4  # d1 and d2, two metrics each
    assert {k for k, _ in d1} == set(STREAM_LABEL_KEYS) == set(TIME_TO_FIRST_TOKEN.labels)


def test_a_model_that_is_not_an_endpoint_is_labelled_with_dashes() -> None:
    agg = Aggregator(start=0.0)
    agg.add_request(_record(0.03, 50.0, endpoint=None, dm=None))
    [labels] = {
        dict(labels)["endpoint_id"] + "|" + dict(labels)["deployed_model_id"]
        for m, labels, _ in agg.series()
        if m is TIME_TO_FIRST_TOKEN
    }
    assert labels == "-|-"


def test_deployed_models_beyond_the_bound_fold_into_one_other_series() -> None:
    agg = Aggregator(start=0.0)
    for i in range(MAX_STREAM_TARGETS + 5):
        agg.add_request(_record(0.01, 100.0, dm=f"d{i}"))
    ids = [dict(labels)["deployed_model_id"] for m, labels, _ in agg.series() if m is TIME_TO_FIRST_TOKEN]
    assert len(ids) == MAX_STREAM_TARGETS + 1 and OTHER in ids
