"""Feedback: `record_feedback` checks the rating, joins the request's prompt, version, label and model,
redacts the text, stores it (SQLite without a project; Firestore — the real gcloud emulator through the
official client — with one) and emits the feedback-score metric; the report summarises per version."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import firestore  # type: ignore[attr-defined,unused-ignore]

from controller.cli.main import cli
from controller.prompts.store import PromptStore
from controller.providers.firestore_feedback import FirestoreFeedbackStore, document_id
from controller.providers.runtime_stores import open_feedback_store
from controller.providers.sqlite_feedback import SqliteFeedbackStore
from controller.runtime import GenAIClient
from controller.runtime.feedback import FeedbackRecorder, RequestIndex, UnknownRequestError
from controller.runtime.records import Feedback, FeedbackStore, Outcome, RequestRecord, Usage
from controller.runtime.usage import feedback_rows
from tests.helpers import run_cli
from tests.runtime.conftest import Records, publish_version, version
from tests.runtime.firestore_emulator import firestore_emulator

T0 = 1_700_000_000.0
MODEL = "publishers/google/models/gemini-2.5-flash"


def served(
    request_id: str, *, prompt: str = "support-answer", version: str = "3", label: str = "production"
) -> RequestRecord:
    return RequestRecord(
        request_id=request_id,
        prompt=prompt,
        version=version,
        label=label,
        model=MODEL,
        outcome=Outcome.OK,
        latency_s=0.1,
        usage=Usage(10, 5),
        cost_usd=0.0,
        cache_hit=False,
        at=T0,
    )


class Metrics:
    """A `Recorder` that keeps the feedback it is given."""

    def __init__(self) -> None:
        self.feedback: list[Feedback] = []

    def record(self, record: RequestRecord) -> None:
        raise AssertionError("feedback records no request")

    def record_feedback(self, feedback: Feedback) -> None:
        self.feedback.append(feedback)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture(scope="module")
def firestore_host() -> Iterator[str]:
    with firestore_emulator() as host:
        yield host


@pytest.fixture
def firestore_store(firestore_host: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FirestoreFeedbackStore]:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    store = FirestoreFeedbackStore(project=f"test-{uuid.uuid4().hex[:12]}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "firestore"])
def feedback_store(request: pytest.FixtureRequest, tmp_path: Path) -> FeedbackStore:
    if request.param == "sqlite":
        return SqliteFeedbackStore(tmp_path / "feedback.sqlite")
    result: FeedbackStore = request.getfixturevalue("firestore_store")
    return result


def test_a_rating_is_stored_with_the_prompt_version_label_and_model_of_its_request(
    feedback_store: FeedbackStore,
) -> None:
    store = feedback_store
    metrics = Metrics()
    recorder = FeedbackRecorder(store, recorder=metrics, clock=Clock())
    recorder.remember(served("req-1", version="3"))
    recorder.remember(served("req-2", prompt="ticket-triage", version="1", label="staging"))
    recorder.record_feedback("req-1", 4, text="Helpful, thanks", user_id="user-7")
    recorder.record_feedback("req-2", 2)
    got = {f.request_id: f for f in store.query()}
    assert got["req-1"] == Feedback(
        "req-1", 4, "support-answer", "3", "production", MODEL, T0 + 1, "Helpful, thanks", "user-7"
    )
    assert got["req-2"] == Feedback("req-2", 2, "ticket-triage", "1", "staging", MODEL, T0 + 2, None, None)
    assert [f.request_id for f in metrics.feedback] == ["req-1", "req-2"]


def test_pii_in_the_text_is_redacted_before_it_is_stored_or_counted(feedback_store: FeedbackStore) -> None:
    store = feedback_store
    metrics = Metrics()
    recorder = FeedbackRecorder(store, recorder=metrics)
    recorder.remember(served("req-1"))
    text = "Wrong answer. Mail ada.lovelace@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111"
    recorder.record_feedback("req-1", 1, text=text)
    (stored,) = store.query()
    assert stored.text is not None
    for secret in ("ada.lovelace@example.com", "7946 0958", "4111 1111 1111 1111"):
        assert secret not in stored.text
        assert secret not in repr(metrics.feedback)
    assert stored.text.startswith("Wrong answer.")


def test_rating_a_request_again_replaces_the_stored_rating(feedback_store: FeedbackStore) -> None:
    store = feedback_store
    recorder = FeedbackRecorder(store, clock=Clock())
    recorder.remember(served("req-1"))
    recorder.record_feedback("req-1", 2)
    recorder.record_feedback("req-1", 5)
    assert [(f.request_id, f.rating) for f in store.query()] == [("req-1", 5)]


def test_queries_filter_by_prompt_and_since(feedback_store: FeedbackStore) -> None:
    store = feedback_store
    recorder = FeedbackRecorder(store, clock=Clock())
    for i, prompt in enumerate(["a", "b", "a", "b"]):
        recorder.remember(served(f"r{i}", prompt=prompt))
        recorder.record_feedback(f"r{i}", 3)
    assert [f.request_id for f in store.query()] == ["r0", "r1", "r2", "r3"]
    assert [f.request_id for f in store.query(prompt="a")] == ["r0", "r2"]
    assert [f.request_id for f in store.query(since=T0 + 3)] == ["r2", "r3"]
    assert [f.request_id for f in store.query(prompt="b", since=T0 + 3)] == ["r3"]
    assert store.query(prompt="c") == []


@pytest.mark.parametrize("bad", [0, 6, -1, 3.5, True, "4", None])
def test_a_rating_outside_1_to_5_is_refused(bad: object, tmp_path: Path) -> None:
    store = SqliteFeedbackStore(tmp_path / "f.sqlite")
    recorder = FeedbackRecorder(store)
    recorder.remember(served("req-1"))
    with pytest.raises(ValueError, match="rating must be an integer from 1 to 5"):
        recorder.record_feedback("req-1", bad)  # type: ignore[arg-type]
    assert store.query() == []


def test_feedback_on_a_request_the_client_did_not_serve_is_refused(tmp_path: Path) -> None:
    recorder = FeedbackRecorder(SqliteFeedbackStore(tmp_path / "f.sqlite"))
    with pytest.raises(UnknownRequestError, match="no request 'nope'"):
        recorder.record_feedback("nope", 5)


def test_the_request_map_is_bounded_and_forgets_the_oldest() -> None:
    index = RequestIndex(max_requests=3)
    for i in range(5):
        index.remember(served(f"r{i}"))
    assert len(index) == 3
    assert index.get("r0") is None and index.get("r1") is None
    assert index.get("r4") is not None


def test_long_text_is_cut_after_redaction(tmp_path: Path) -> None:
    store = SqliteFeedbackStore(tmp_path / "f.sqlite")
    recorder = FeedbackRecorder(store)
    recorder.remember(served("req-1"))
    recorder.record_feedback("req-1", 3, text="x" * 10_000)
    (stored,) = store.query()
    assert stored.text is not None and len(stored.text) == 4000


def test_without_a_project_feedback_goes_to_a_local_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_feedback_store(project=None)
    assert isinstance(store, SqliteFeedbackStore)
    assert store.query() == []
    assert not (tmp_path / ".genaiops").exists()  # reading never creates the file
    recorder = FeedbackRecorder(store)
    recorder.remember(served("req-1"))
    recorder.record_feedback("req-1", 5)
    assert (tmp_path / ".genaiops" / "feedback.sqlite").is_file()


def test_with_a_project_feedback_goes_to_firestore(firestore_host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    project = f"test-{uuid.uuid4().hex[:12]}"
    store = open_feedback_store(project=project)
    assert isinstance(store, FirestoreFeedbackStore)
    recorder = FeedbackRecorder(store)
    recorder.remember(served("req/with/slashes"))
    recorder.record_feedback("req/with/slashes", 4)
    client: Any = firestore.Client(project=project)
    documents = list(client.collection("genaiops-feedback").stream())
    assert [d.id for d in documents] == [document_id("req/with/slashes")]
    body = documents[0].to_dict()
    assert body is not None
    assert {k: body[k] for k in ("request_id", "rating", "prompt", "version", "label", "model")} == {
        "request_id": "req/with/slashes",
        "rating": 4,
        "prompt": "support-answer",
        "version": "3",
        "label": "production",
        "model": MODEL,
    }
    client.close()
    store.close()


def test_the_report_gives_average_and_counts_per_prompt_version() -> None:
    items = [
        Feedback(f"r{i}", r, p, v, "production", MODEL, T0)
        for i, (p, v, r) in enumerate(
            [("a", "10", 5), ("a", "10", 4), ("a", "9", 1), ("a", "2", 2), ("b", "1", 3), ("a", "10", 3)]
        )
    ]
    rows = feedback_rows(items)
    assert [(r.prompt, r.version, r.count, r.average, r.ratings) for r in rows] == [
        ("a", "2", 1, 2.0, (0, 1, 0, 0, 0)),
        ("a", "9", 1, 1.0, (1, 0, 0, 0, 0)),
        ("a", "10", 3, 4.0, (0, 0, 1, 1, 1)),
        ("b", "1", 1, 3.0, (0, 0, 1, 0, 0)),
    ]


def test_feedback_report_reads_firestore_when_a_project_is_set(
    firestore_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    project = f"test-{uuid.uuid4().hex[:12]}"
    store = FirestoreFeedbackStore(project=project)
    recorder = FeedbackRecorder(store)
    for i, value in enumerate([5, 4, 3]):
        recorder.remember(served(f"r{i}", version="7"))
        recorder.record_feedback(f"r{i}", value)
    store.close()
    result = run_cli(cli, ["feedback", "report", "--project", project, "--output", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["store"] == f"Firestore {project}/genaiops-feedback"
    assert document["versions"] == [
        {
            "prompt": "support-answer",
            "version": "7",
            "count": 3,
            "average": 4.0,
            "ratings": {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1},
            "labels": ["production"],
            "models": [MODEL],
        }
    ]


def test_the_client_remembers_its_requests_through_the_tee_so_feedback_needs_only_the_request_id(
    make_client: Callable[..., GenAIClient], store: PromptStore, tmp_path: Path
) -> None:
    publish_version(store, version("support"), "production")
    metrics = Records()
    feedback = FeedbackRecorder(SqliteFeedbackStore(tmp_path / "f.sqlite"))
    client = make_client(recorder=feedback.tee(metrics))
    result = client.generate("support", {"question": "Where is my parcel?"}, label="production")
    stored = feedback.record_feedback(result.request_id, 5, text="Quick answer")
    assert (stored.prompt, stored.version, stored.label, stored.model) == (
        "support",
        result.version,
        "production",
        result.model,
    )
    assert [r.request_id for r in metrics.records] == [result.request_id]  # the tee passed the record on
    assert feedback.store.query() == [stored]
