"""The pure parts of the page data, table-driven: analysis windows, thresholds as the plots draw them, where a
rollout stands from its events alone (a prompt's promotion clears its record), which deployed models or
versions a page plots once the live record forgot one, the experiment page of a report, and the snapshot's
version and its failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from controller.dashboard.audit_page import AuditRecord, parse_line
from controller.dashboard.experiment_page import experiment_page
from controller.dashboard.overview_page import overview_of
from controller.dashboard.page_data import reloading
from controller.dashboard.prompt_pages import VersionCache, prompt_page
from controller.dashboard.rollout_page import (
    MAX_WINDOWS,
    SampleCache,
    build_page,
    latest_run,
    measurement_marks,
    standing,
    subject_of,
    threshold_of,
    windows,
)
from controller.dashboard.rollout_sides import endpoint_sides, prompt_sides
from controller.dashboard.snapshot import Built, SnapshotStore
from controller.model import Endpoint, Metric, Prompt
from controller.observed import Sample
from controller.plans.plan import Plan
from controller.prompts.index import IndexEntry, LabelMove, PromptIndex
from controller.prompts.store import PromptStore
from controller.rollout.events import RolloutStatus, TargetKind
from controller.rollout.experiment import decision, experiment_report
from controller.rollout.state import Phase, RolloutState


def record(**fields: Any) -> AuditRecord:
    line = json.dumps({"time": "2025-01-01T00:00:00+00:00", **fields})
    parsed = parse_line(line)
    assert parsed is not None
    return parsed


def status(state: RolloutState, weight: int = 0) -> RolloutStatus:
    return RolloutStatus(endpoint="chat", state=state, steps=2, weight=weight, share=100)


@pytest.mark.parametrize(
    ("start", "end", "interval", "expected"),
    [
        (0, 3, 1, [(0, 1), (1, 2), (2, 3)]),
        (0, 2.4, 1, [(0, 1), (1, 2)]),  # a last window under half an interval is left out
        (0, 2.6, 1, [(0, 1), (1, 2), (2, 2.6)]),
        (5, 5, 1, []),
        (5, 4, 1, []),
        (0, 10, 0, []),
    ],
)
def test_a_span_is_cut_in_analysis_windows(start: float, end: float, interval: float, expected: list[Any]) -> None:
    assert windows(start, end, interval) == expected


def test_a_long_span_is_cut_in_wider_windows_of_the_interval_doubled() -> None:
    found = windows(0, 86400, 60)  # a day at one-minute analysis
    assert len(found) <= MAX_WINDOWS
    width = found[0][1] - found[0][0]
    assert width % 60 == 0 and width / 60 in (16, 32)


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [
        ({"name": "error-rate", "max": 0.05}, {"kind": "max", "value": 0.05, "text": "max 0.05"}),
        ({"name": "error-rate", "max": "2%"}, {"kind": "max", "value": 0.02, "text": "max 0.02"}),
        ({"name": "latency-p99", "maxMs": 1500}, {"kind": "maxMs", "value": 1500.0, "text": "max 1500 ms"}),
        ({"name": "latency-p95", "max": "1.5s"}, {"kind": "maxMs", "value": 1500.0, "text": "max 1500 ms"}),
        ({"name": "feedback-score", "min": 3.5}, {"kind": "min", "value": 3.5, "text": "min 3.5"}),
        (
            {"name": "latency-p99", "maxIncrease": "20%"},
            {"kind": "maxIncrease", "value": 0.2, "text": "at most +20% vs stable"},
        ),
        (
            {"name": "feedback-score", "maxDecrease": 0.1},
            {"kind": "maxDecrease", "value": 0.1, "text": "at most -10% vs stable"},
        ),
        (
            {"name": "latency-p99", "judge": "mann-whitney"},
            {"kind": "judge", "value": 0.98, "text": "judged against the stable at 0.98"},
        ),
    ],
)
def test_a_metric_is_plotted_against_the_bound_it_is_held_to(metric: dict[str, Any], threshold: Any) -> None:
    assert threshold_of(Metric.model_validate(metric)) == threshold


def _endpoint() -> Endpoint:
    return Endpoint.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Endpoint",
            "metadata": {"name": "chat"},
            "spec": {
                "region": "us-central1",
                "deployments": [{"name": "primary", "model": "llm"}],
                "traffic": {"primary": 100},
                "rollout": {
                    "strategy": "canary",
                    "steps": [{"weight": 10, "pause": "1m"}, {"weight": 50, "pause": "indefinite"}],
                    "analysis": {"interval": "30s", "metrics": [{"name": "error-rate", "max": 0.01}]},
                },
            },
        }
    )


def test_the_subject_of_a_canary_has_its_compiled_steps_and_analysis() -> None:
    subject = subject_of(_endpoint(), "primary")
    assert (subject.identity, subject.region, subject.interval_s) == ("chat/primary", "us-central1", 30.0)
    assert [(s.weight, s.pause_s) for s in subject.steps][:1] == [(10, 60.0)]
    assert [m.name for m in subject.metrics] == ["error-rate"]


def test_the_latest_run_starts_at_the_last_start_of_the_current_revision() -> None:
    events = [
        record(event="rollout-started", revision="a", step=0),
        record(event="rollout-aborted", revision="a", step=0),
        record(event="rollout-started", revision="b", step=0),
        record(event="rollout-measured", revision="b", step=0),
        record(event="rollout-started", revision="a", step=0),
        record(event="rollout-step", revision="a", step=1),
    ]
    assert [e.record["revision"] for e in latest_run(events, "b")] == ["b", "b", "a", "a"]
    assert len(latest_run(events, "a")) == 2 and len(latest_run(events, "")) == 2
    assert latest_run([], "a") == []


def test_a_promoted_prompt_stands_as_its_last_event_says() -> None:
    events = [
        record(event="rollout-started", revision="v2", step=0, weight=20),
        record(event="rollout-step", revision="v2", step=1, weight=50),
        record(event="rollout-promoted", revision="v2", step=2, weight=100, detail="every step passed"),
    ]
    where = standing(None, events)
    assert (where.phase, where.step, where.weight, where.revision) == ("healthy", 2, 100, "v2")
    assert where.reason == "every step passed"
    assert standing(None, events[:2]).phase == "progressing" and standing(None, events[:2]).reason == ""
    paused = standing(None, [*events[:1], record(event="rollout-paused", revision="v2", step=0, detail="held")])
    assert (paused.phase, paused.reason) == ("paused", "held")


def test_measurements_are_marked_with_the_pages_verdicts() -> None:
    measured = record(
        event="rollout-measured",
        step=1,
        measurements=[
            {"metric": "error-rate", "value": 0.2, "threshold": "max 0.05", "verdict": "failed", "detail": ""},
            {"metric": "error-rate", "value": None, "threshold": "max 0.05", "verdict": "inconclusive", "detail": "3"},
            {"metric": "latency-p99", "value": 12.0, "threshold": "max 300 ms", "verdict": "successful"},
            {"metric": "latency-p99", "value": None, "verdict": "error", "detail": "query failed"},
            "not a measurement",
        ],
    )
    marks = measurement_marks([measured, record(event="rollout-step", step=2)])
    assert [m["verdict"] for m in marks["error-rate"]] == ["failed", "inconclusive"]
    assert [m["verdict"] for m in marks["latency-p99"]] == ["passed", "error"]
    assert marks["error-rate"][0]["detail"] == "max 0.05" and marks["error-rate"][1]["detail"] == "max 0.05; 3"


def _op(op: str, result: str, at: str = "2025-01-01T00:00:00+00:00") -> AuditRecord:
    parsed = parse_line(
        json.dumps({"time": at, "address": "Endpoint/us-central1/chat", "op": op, "status": "ok", "result": result})
    )
    assert parsed is not None
    return parsed


START = _op("StartRollout", "111=80%, 222=20%")
DEPLOY = _op("DeployModel", "222")
AT = START.at + 1


@pytest.mark.parametrize(
    ("state", "records", "sides"),
    [
        (RolloutState("primary", "r", Phase.PROGRESSING, canary_id="222", stable_id="111"), [], ("111", "222")),
        (RolloutState("primary", "r", Phase.DEGRADED, stable_id="111"), [START], ("111", "222")),  # rolled back
        (RolloutState("primary", "r", Phase.DEGRADED, stable_id="111"), [DEPLOY], ("111", "222")),
        (RolloutState("primary", "r", Phase.HEALTHY, stable_id="222"), [START], ("111", "222")),  # promoted
        (RolloutState("primary", "r", Phase.HEALTHY, stable_id="222"), [], ("", "222")),  # never a guess
        (None, [DEPLOY, START], ("111", "222")),  # record cleared by `rollout retry`
        (None, [], ("", "")),
    ],
)
def test_the_sides_of_an_endpoint_rollout_come_from_its_record_then_the_audit_log(
    state: RolloutState | None, records: list[AuditRecord], sides: tuple[str, str]
) -> None:
    found = endpoint_sides(records, _endpoint(), status=status(state) if state else None, started_at=AT)
    assert found == sides


def test_the_split_of_another_endpoint_or_a_later_start_is_not_used() -> None:
    later = _op("StartRollout", "333=50%, 444=50%", at="2025-01-01T01:00:00+00:00")
    state = RolloutState("primary", "r", Phase.DEGRADED, stable_id="111")
    assert endpoint_sides([START, later], _endpoint(), status=status(state), started_at=AT) == ("111", "222")


def test_the_sides_of_a_prompt_rollout_come_from_its_record_then_the_label_history() -> None:
    running = RolloutState("production", "v2", Phase.PROGRESSING, canary_id="v2", stable_id="v1")
    assert prompt_sides(None, "production", status=status(running), run=[]) == ("v1", "v2")
    rolled_back = RolloutState("production", "v2", Phase.DEGRADED, stable_id="v1")
    assert prompt_sides(None, "production", status=status(rolled_back), run=[]) == ("v1", "v2")
    index = PromptIndex(
        name="greet",
        history=(
            LabelMove("production", "v1", None, "t1"),
            LabelMove("staging", "v2", "v0", "t2"),
            LabelMove("production", "v2", "v1", "t3"),
        ),
    )
    promoted = [record(event="rollout-promoted", revision="v2", step=2)]
    assert prompt_sides(index, "production", status=None, run=promoted) == ("v1", "v2")
    assert prompt_sides(None, "production", status=None, run=promoted) == ("", "v2")


def test_a_prompts_rollout_subject_reads_its_labels_steps() -> None:
    prompt = Prompt.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Prompt",
            "metadata": {"name": "greet"},
            "spec": {
                "model": "publishers/google/models/gemini-2.0-flash",
                "template": "Hi",
                "labels": ["production"],
                "rollout": {
                    "strategy": "canary",
                    "steps": [{"weight": 50}],
                    "analysis": {"interval": "2s", "metrics": [{"name": "safety-block-rate", "max": "10%"}]},
                },
            },
        }
    )
    subject = subject_of(prompt, "production")
    assert (subject.identity, subject.region, subject.interval_s) == ("prompt/greet[production]", "", 2.0)


def test_the_experiment_page_has_each_variants_value_and_interval_of_its_difference() -> None:
    metric = Metric.model_validate({"name": "error-rate", "max": 0.2})
    report = experiment_report(
        samples={"control": Sample(requests=4000, errors=400), "challenger": Sample(requests=4000, errors=200)},
        weights={"control": 50.0, "challenger": 50.0},
        control="control",
        metrics=[metric],
        min_requests=100,
        duration_over=True,
        confidence=0.95,
    )
    page = experiment_page(
        report, decision(report, auto_promote=False), kind="Endpoint", name="ab", part="", started_at=1, ends_at=2
    )
    (shown,) = page["metrics"]
    control, challenger = shown["variants"]
    assert (control["variant"], control["low"], control["high"]) == ("control", None, None)
    assert control["value"] == pytest.approx(0.1) and challenger["value"] == pytest.approx(0.05)
    assert challenger["low"] is not None and challenger["high"] is not None
    assert challenger["low"] < -0.05 < challenger["high"] < 0  # the difference: 5 points fewer errors
    assert (shown["better"], shown["verdict"], shown["unit"]) == ("lower", "better", "")
    assert "challenger" in page["decision"] and page["srm"] == ""
    json.dumps(page, allow_nan=False)


def test_the_snapshot_version_moves_with_what_it_shows_and_a_failed_build_keeps_the_last_one() -> None:
    answers: list[Any] = []

    def build() -> Built:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Built(overview_of(Plan((), target=answer), [], now=len(answers)))

    store = SnapshotStore(build)
    answers.extend(["t1", "t1", "t2", RuntimeError("UNAVAILABLE"), "t2"])
    assert [store.refresh().version for _ in range(3)] == [1, 1, 2]  # the build time alone changes nothing
    failed = store.refresh()
    assert failed.version == 3 and failed.built.overview["target"] == "t2"
    assert failed.built.overview["problems"] == ["refresh failed: UNAVAILABLE"]
    recovered = store.refresh()
    assert recovered.version == 4 and recovered.built.overview["problems"] == []
    assert store.wait_for_change(4, timeout_s=0.01) == 4
    store.stop()
    assert store.stopping and store.wait_for_change(4, timeout_s=5) == 4  # a stopped store wakes waiters at once


def test_manifests_are_read_again_only_when_a_file_under_them_changed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("one", encoding="utf-8")
    reads: list[int] = []

    def read() -> Any:
        reads.append(1)
        return len(reads)

    load = reloading(tmp_path, read)
    assert [load(), load()] == [1, 1]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("two", encoding="utf-8")
    assert [load(), load()] == [2, 2]
    (tmp_path / "a.yaml").write_text("three!", encoding="utf-8")
    assert load() == 3


def _prompt(strategy: str) -> Prompt:
    rollout: dict[str, Any] = {"strategy": strategy, "analysis": {"metrics": [{"name": "error-rate", "max": 0.5}]}}
    if strategy == "experiment":
        rollout["experiment"] = {"duration": "1h"}
    else:
        rollout["steps"] = [{"weight": 50}]
    spec = {"model": "publishers/google/models/gemini-2.0-flash", "template": "Hi", "labels": ["production"]}
    return Prompt.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "Prompt",
            "metadata": {"name": "greet"},
            "spec": {**spec, "rollout": rollout},
        }
    )


@pytest.mark.parametrize("strategy", ["canary", "experiment"])
def test_a_rollout_row_and_page_carry_the_manifests_strategy(strategy: str) -> None:
    state = RolloutState("production", "v2", Phase.PROGRESSING)
    running = RolloutStatus(endpoint="greet", state=state, steps=1, weight=50, share=100, target=TargetKind.PROMPT)
    overview = overview_of(Plan((), target="t"), [running], now=0, strategies={("Prompt", "greet"): strategy})
    assert [r["strategy"] for r in overview["rollouts"]] == [strategy]
    assert overview_of(Plan((), target="t"), [running], now=0)["rollouts"][0]["strategy"] == "canary"  # unknown
    subject = subject_of(_prompt(strategy), "production")
    page = build_page(
        subject, status=running, events=[], stable="v1", canary="v2", sample=None, cache=SampleCache(), now=0
    )
    assert page["strategy"] == strategy


class _NoVersions:
    def read_version(self, name: str, version: str) -> None:
        return None


def test_versions_published_in_the_same_second_are_listed_newest_first() -> None:
    same = "2025-01-01T00:00:05Z"  # the store keeps whole seconds
    entries = (IndexEntry("v1", "2025-01-01T00:00:04Z"), IndexEntry("v2", same), IndexEntry("v3", same))
    page = prompt_page(PromptIndex(name="greet", versions=entries), VersionCache(cast(PromptStore, _NoVersions())))
    assert [v["version"] for v in page["versions"]] == ["v3", "v2", "v1"]  # publishing order, reversed
    assert page["versions"][0]["created_at"] == page["versions"][1]["created_at"]
