"""`genaiops usage` reads the runtime's metrics back from a running emulator and prints one row per
prompt, version, label or model; `genaiops feedback report` summarises the local feedback file per prompt
version. Both as tables and as versioned JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from controller.cli.main import cli
from controller.emulator.server import Emulator, running
from controller.providers.runtime_stores import cloud_monitoring_recorder
from controller.providers.sqlite_feedback import SqliteFeedbackStore
from controller.runtime.feedback import FeedbackRecorder
from controller.runtime.records import Feedback, Outcome, RequestRecord, Usage
from tests.helpers import run_cli

PROJECT = "local-project"
FLASH = "publishers/google/models/gemini-2.5-flash"
PRO = "publishers/google/models/gemini-2.5-pro"


def record(
    i: int, *, version: str = "3", model: str = FLASH, outcome: Outcome = Outcome.OK, prompt: str = "support-answer"
) -> RequestRecord:
    hit = outcome is Outcome.CACHE_HIT
    return RequestRecord(
        request_id=f"r{i}",
        prompt=prompt,
        version=version,
        label="production" if version == "3" else "staging",
        model=model,
        outcome=outcome,
        latency_s=0.0002 if hit else 0.200,
        usage=Usage() if hit else Usage(input_tokens=1000, output_tokens=100),
        cost_usd=0.0 if hit else 0.001,
        cache_hit=hit,
        at=time.time(),
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with running(project=PROJECT, rest_port=None, min_alignment_period_s=1) as emu:
        recorder = cloud_monitoring_recorder(project=PROJECT, emulator=emu.grpc_target, background=False)
        for i in range(40):
            outcome = Outcome.CACHE_HIT if i % 4 == 0 else Outcome.MODEL_ERROR if i == 1 else Outcome.OK
            recorder.record(record(i, outcome=outcome))
        for i in range(40, 50):
            recorder.record(record(i, version="4", model=PRO))
        recorder.record(record(50, version="4", model=PRO, outcome=Outcome.BLOCKED_OUTPUT))
        recorder.record_feedback(Feedback("r2", 5, "support-answer", "3", "production", FLASH, time.time()))
        recorder.close()
        yield emu


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row on one line whatever the worker's environment says (rich folds cells at COLUMNS)."""
    monkeypatch.setenv("COLUMNS", "200")


def cells(line: str) -> list[str]:
    """The cells of a table row (rich draws `│` between them)."""
    return line.replace("\u2502", " ").split()


def usage(emulator: Emulator, *args: str) -> Result:
    return run_cli(cli, ["usage", "--emulator", emulator.grpc_target, *args])


def test_usage_by_version_prints_requests_tokens_cost_latency_rates_blocks_and_feedback(emulator: Emulator) -> None:
    result = usage(emulator, "--by", "version")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"Target: emulator {emulator.grpc_target}")
    header = " ".join(line for line in lines[1:3])  # two header lines
    for column in ("PROMPT", "VERSION", "REQS", "TOKENS", "IN", "OUT", "COST", "P50", "P99", "ERROR", "RATE", "CACHE"):
        assert column in header.split()
    assert "HITS" in header and "BLOCKS" in header and "FEEDBACK" in header
    v3 = next((cells(line) for line in lines if cells(line)[:2] == ["support-answer", "3"]), None)
    assert v3 is not None, result.output
    assert v3[2:5] == ["40", "30.0k", "3000"]  # tokens shortened in the table (exact in the JSON)
    assert v3[5] == "$0.0300"
    assert v3[8:12] == ["2.5%", "25.0%", "0", "5.00"]  # 1 error in 40, 10 cache hits, no blocks, one 5-star
    v4 = next(cells(line) for line in lines if cells(line)[:2] == ["support-answer", "4"])
    assert v4[2] == "11" and v4[10] == "1" and v4[-1] == "-"
    total = next(cells(line) for line in lines if line.startswith("total"))
    assert total[1] == "51"


def test_usage_as_json_is_a_versioned_document_with_rates_and_percentiles(emulator: Emulator) -> None:
    result = usage(emulator, "--by", "model", "--since", "1h", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["schema"] == "genaiops.dev/usage/v1" and document["by"] == "model"
    groups = {g["model"]: g for g in document["groups"]}
    flash, pro = groups[FLASH], groups[PRO]
    assert (flash["requests"], flash["errors"], flash["cache_hits"]) == (40, 1, 10)
    assert flash["error_rate"] == pytest.approx(0.025) and flash["cache_hit_rate"] == pytest.approx(0.25)
    assert flash["tokens"] == {"input": 30000, "output": 3000, "cached": 0, "thinking": 0}
    assert flash["cost_usd"] == pytest.approx(0.03)
    assert flash["latency_ms"]["p50"] == pytest.approx(200, rel=0.2)
    assert flash["latency_ms"]["p99"] == pytest.approx(200, rel=0.2)
    assert flash["feedback"] == {"count": 1, "average": 5.0}
    assert pro["safety_blocks"] == 1 and pro["feedback"] == {"count": 0, "average": None}
    assert document["total"]["requests"] == 51


def test_usage_of_a_window_without_requests_says_so(tmp_path: Path) -> None:
    with running(project=PROJECT, rest_port=None, min_alignment_period_s=1) as empty:
        result = usage(empty, "--since", "10m")
    assert result.exit_code == 0, result.output
    assert "No requests recorded by the genaiops runtime client in this window." in result.output


@pytest.mark.parametrize("since", ["0m", "3 days", "12x", "500d"])
def test_usage_refuses_a_malformed_or_unbounded_since(since: str) -> None:
    result = run_cli(cli, ["usage", "--since", since])
    assert result.exit_code != 0
    assert "--since" in result.output


def _feedback_file(path: Path) -> None:
    recorder = FeedbackRecorder(SqliteFeedbackStore(path))
    ratings = [("support-answer", "3", 5), ("support-answer", "3", 3), ("support-answer", "4", 1), ("triage", "1", 4)]
    for i, (prompt, version, value) in enumerate(ratings):
        recorder.remember(record(i, prompt=prompt, version=version))
        recorder.record_feedback(f"r{i}", value, text="call me at ada@example.com")


def test_feedback_report_prints_average_and_counts_per_prompt_version(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    _feedback_file(db)
    result = run_cli(cli, ["feedback", "report", "--feedback-db", str(db)])
    assert result.exit_code == 0, result.output
    rows = [cells(line) for line in result.output.splitlines()]
    assert ["support-answer", "3", "2", "4.00", "0", "0", "1", "0", "1", "production"] in rows
    assert ["support-answer", "4", "1", "1.00", "1", "0", "0", "0", "0", "staging"] in rows
    assert ["triage", "1", "1", "4.00", "0", "0", "0", "1", "0", "staging"] in rows
    assert "ada@example.com" not in result.output


def test_feedback_report_filters_by_prompt_and_prints_json(tmp_path: Path) -> None:
    db = tmp_path / "feedback.sqlite"
    _feedback_file(db)
    result = run_cli(
        cli, ["feedback", "report", "--feedback-db", str(db), "--prompt", "support-answer", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["schema"] == "genaiops.dev/feedback-report/v1"
    assert [(v["version"], v["count"], v["average"]) for v in document["versions"]] == [("3", 2, 4.0), ("4", 1, 1.0)]


def test_feedback_report_without_any_feedback_says_so_and_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GENAIOPS_FEEDBACK_DB", raising=False)
    result = run_cli(cli, ["feedback", "report", "--since", "1d"])
    assert result.exit_code == 0, result.output
    assert "Feedback from .genaiops/feedback.sqlite; since 1d ago" in result.output
    assert "No feedback in this window." in result.output
    assert not (tmp_path / ".genaiops").exists()
