"""When the reconcile loop announces a retiring or retired model: the pure threshold bookkeeping of
`engine/notify.py` (first sighting, then each crossing of 30, 14, 7 and 1 days left; a retired model once per
refused commit; what an audit log already announced) and the events `model_events` derives from manifests.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from controller.engine.notify import ModelEvent, ModelEventKind, ModelNotices, threshold_of
from controller.engine.reconciler import _model_records, model_events
from controller.loader import load
from controller.model.catalogue.lifecycle import Horizon

PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: greet}
spec:
  model: publishers/google/models/gemini-2.0-flash
  template: "Hello {{ customer }}!"
  variables: {customer: {type: string}}
"""


def _retiring(days_left: int, model: str = "gemini-2.0-flash", commit: str = "c1") -> ModelEvent:
    return ModelEvent(
        kind=ModelEventKind.RETIRING,
        manifest="Prompt/greet",
        field="spec.model",
        source="manifests/prompts.yaml:5:10",
        model=model,
        value=f"publishers/google/models/{model}",
        last_day=date(2026, 2, 5),
        days_left=days_left,
        successor="gemini-2.5-flash",
        commit=commit,
        threshold=threshold_of(days_left),
    )


def _retired(commit: str) -> ModelEvent:
    return ModelEvent(
        kind=ModelEventKind.RETIRED,
        manifest="Prompt/greet",
        field="spec.model",
        source="manifests/prompts.yaml:5:10",
        model="gemini-2.0-flash",
        value="publishers/google/models/gemini-2.0-flash",
        last_day=date(2026, 2, 5),
        days_left=-1,
        successor="gemini-2.5-flash",
        commit=commit,
    )


def _announced(notices: ModelNotices, days: list[int]) -> list[int]:
    """The days (one pass a day) on which a model-retiring event is sent."""
    sent = []
    for left in days:
        event = _retiring(left)
        if notices.due(event):
            notices.sent(event)
            sent.append(left)
    return sent


@pytest.mark.parametrize(
    ("days_left", "threshold"), [(60, None), (31, None), (30, 30), (16, 30), (14, 14), (8, 14), (7, 7), (1, 1), (0, 1)]
)
def test_days_left_fall_under_the_smallest_threshold_at_or_above_them(days_left: int, threshold: int | None) -> None:
    assert threshold_of(days_left) == threshold


def test_a_reference_is_announced_when_first_seen_and_again_only_when_it_crosses_a_threshold() -> None:
    every_day_from_45_to_0 = list(range(45, -1, -1))
    assert _announced(ModelNotices(), every_day_from_45_to_0) == [45, 30, 14, 7, 1]


def test_a_reference_first_seen_16_days_ahead_is_announced_once_however_many_passes_run() -> None:
    assert _announced(ModelNotices(), [16] * 50 + [15, 15]) == [16]


def test_a_last_day_moved_later_is_not_announced_and_does_not_repeat_a_crossing_already_announced() -> None:
    assert _announced(ModelNotices(), [10, 40, 20, 12, 6]) == [10, 6]


def test_another_model_in_the_same_field_is_a_new_reference() -> None:
    notices = ModelNotices()
    first, other = _retiring(16), _retiring(16, model="gemini-2.0-flash-lite")
    notices.sent(first)
    assert not notices.due(first) and notices.due(other)


def test_a_new_commit_that_keeps_the_reference_is_not_announced_again() -> None:
    notices = ModelNotices()
    notices.sent(_retiring(16, commit="c1"))
    assert not notices.due(_retiring(16, commit="c2"))


def test_a_retired_model_is_announced_once_per_refused_commit() -> None:
    notices = ModelNotices()
    assert notices.due(_retired("c1"))
    notices.sent(_retired("c1"))
    assert not notices.due(_retired("c1")) and notices.due(_retired("c2"))


def test_the_audit_log_tells_a_restarted_controller_what_was_already_announced() -> None:
    records = [
        {"event": "reconcile-pass", "commit": "c1"},
        _retiring(16).to_json(),
        json.loads(json.dumps(_retiring(13).to_json())),  # as read back from the file
        _retired("c9").to_json(),
        {"event": "model-retiring", "manifest": 3},  # malformed: skipped
    ]
    notices = ModelNotices.from_records(records)
    assert notices.retiring == {("Prompt/greet", "spec.model", "gemini-2.0-flash"): 14}
    assert not notices.due(_retiring(10)) and notices.due(_retiring(7))
    assert not notices.due(_retired("c9")) and notices.due(_retired("c10"))


def test_the_event_body_carries_the_reference_the_days_and_the_successor() -> None:
    body = _retiring(16).to_json()
    assert body["event"] == "model-retiring"
    assert (body["manifest"], body["field"], body["source"]) == (
        "Prompt/greet",
        "spec.model",
        "manifests/prompts.yaml:5:10",
    )
    assert (body["model"], body["last_day"], body["days_left"], body["successor"], body["threshold"]) == (
        "gemini-2.0-flash",
        "2026-02-05",
        16,
        "gemini-2.5-flash",
        30,
    )


def test_manifests_naming_a_retiring_model_give_one_event_per_reference_with_the_file_relative_to_the_repo(
    tmp_path: Path,
) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "prompts.yaml").write_text(PROMPT, encoding="utf-8")
    horizon = Horizon(date(2026, 1, 20))
    result = load(manifests, horizon=horizon)
    assert result.ok
    [event] = model_events(result.manifests, horizon, commit="abc", root=tmp_path)
    assert event.kind is ModelEventKind.RETIRING
    assert (event.manifest, event.field, event.model) == ("Prompt/greet", "spec.model", "gemini-2.0-flash")
    assert event.source == "manifests/prompts.yaml:5:10"
    assert (event.days_left, event.last_day, event.successor, event.threshold) == (
        16,
        date(2026, 2, 5),
        "gemini-2.5-flash",
        30,
    )
    assert event.commit == "abc" and "retiring in 16 days" in event.detail


def test_a_retired_model_gives_a_model_retired_event_and_a_current_one_none(tmp_path: Path) -> None:
    (tmp_path / "prompts.yaml").write_text(PROMPT, encoding="utf-8")
    retired_day = Horizon(date(2026, 2, 6))
    result = load(tmp_path, horizon=retired_day)
    assert not result.ok
    [event] = model_events(result.manifests, retired_day, commit=None, root=tmp_path)
    assert event.kind is ModelEventKind.RETIRED and event.days_left == -1 and event.threshold is None
    current_day = Horizon(date(2025, 6, 1))
    assert model_events(load(tmp_path, horizon=current_day).manifests, current_day, commit=None, root=tmp_path) == []


def test_an_audit_log_that_is_not_a_regular_file_is_not_read_back(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text(json.dumps(_retiring(16).to_json()) + "\nnot json\n", encoding="utf-8")
    assert [r["event"] for r in _model_records(log)] == ["model-retiring"]
    assert list(_model_records(tmp_path)) == [] and list(_model_records(tmp_path / "missing.log")) == []
    assert list(_model_records(None)) == []
