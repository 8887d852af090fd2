"""`genaiops alerts suggest` (controller/cli/alerts_cmd.py over controller/plans/alert_suggest.py): for the
example manifests it writes an error-rate and a p99 alert per endpoint (the p99 from the canary analysis),
a cost-per-day alert for the project (from a Budget when there is one) and a feedback-score alert per
production prompt label, with the first NotificationChannel; the file says to review it and validates with
the loader; a second run suggests nothing; declared alerts are skipped; the file is never overwritten without
--force; invalid manifests are reported, not tracebacks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from pydantic import BaseModel

from controller.cli.main import cli
from controller.loader import load
from controller.model import Alert, Budget, NotificationChannel, Prompt
from controller.plans.alert_suggest import HEADER, is_production_label, render, suggest_alerts
from tests.builders import endpoint
from tests.helpers import MANIFESTS, run_cli

M = TypeVar("M", bound=BaseModel)


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    """A copy of the examples without their alerts."""
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("alerts"))
    return root


def specs(path: Path) -> dict[str, dict[str, object]]:
    return {d["metadata"]["name"]: d["spec"] for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d}


def test_suggest_writes_reviewable_alerts_for_every_endpoint_the_project_and_production_prompts(
    manifests: Path,
) -> None:
    result = run_cli(cli, ["alerts", "suggest", str(manifests)])
    assert result.exit_code == 0, result.output
    out = manifests / "alerts" / "suggested.yaml"
    text = out.read_text(encoding="utf-8")
    assert text.startswith(HEADER) and "review before committing" in text
    written = specs(out)
    assert sorted(written) == [
        "intent-router-error-rate",
        "intent-router-latency-p99",
        "project-cost-per-day",
        "support-answer-production-feedback-score",
        "support-chat-error-rate",
        "support-chat-latency-p99",
    ]
    assert written["support-chat-error-rate"] == {
        "target": {"endpoint": "support-chat"},
        "metric": "error-rate",
        "threshold": "5%",
        "for": "5m",
        "severity": "error",
        "documentation": written["support-chat-error-rate"]["documentation"],
    }
    assert written["support-chat-latency-p99"]["threshold"] == "1500ms"  # its canary analysis's maxMs
    assert written["intent-router-latency-p99"]["threshold"] == "2000ms"  # no latency check: the default
    assert written["project-cost-per-day"]["threshold"] == "$100"
    feedback = written["support-answer-production-feedback-score"]
    assert feedback["target"] == {"prompt": "support-answer", "label": "production"}
    assert (feedback["comparison"], feedback["threshold"]) == ("<", 3)
    assert "Wrote 6 suggested alerts" in result.output and "+ Alert support-chat-error-rate" in result.output


def test_the_suggested_file_validates_with_the_loader(manifests: Path) -> None:
    assert run_cli(cli, ["alerts", "suggest", str(manifests)]).exit_code == 0
    loaded = load(manifests)
    assert loaded.ok, [d.render() for d in loaded.diagnostics]
    assert sum(isinstance(i.manifest, Alert) for i in loaded.manifests) == 6
    assert run_cli(cli, ["validate", str(manifests)]).exit_code == 0


def test_a_second_run_suggests_nothing_and_leaves_the_file_alone(manifests: Path) -> None:
    assert run_cli(cli, ["alerts", "suggest", str(manifests)]).exit_code == 0
    out = manifests / "alerts" / "suggested.yaml"
    before = out.read_bytes()
    again = run_cli(cli, ["alerts", "suggest", str(manifests)])
    assert again.exit_code == 0
    assert "Nothing to suggest" in again.output
    assert out.read_bytes() == before


def test_force_writes_the_same_file_again(manifests: Path) -> None:
    assert run_cli(cli, ["alerts", "suggest", str(manifests)]).exit_code == 0
    out = manifests / "alerts" / "suggested.yaml"
    before = out.read_text(encoding="utf-8")
    forced = run_cli(cli, ["alerts", "suggest", str(manifests), "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_text(encoding="utf-8") == before


def test_alerts_already_declared_are_skipped(manifests: Path) -> None:
    (manifests / "mine.yaml").write_text(
        "apiVersion: genaiops/v1\nkind: Alert\nmetadata: {name: chat-errors}\n"
        "spec: {target: {endpoint: support-chat}, metric: error-rate, threshold: 2%}\n"
        "---\napiVersion: genaiops/v1\nkind: Alert\nmetadata: {name: support-chat-latency-p99}\n"
        "spec: {target: {endpoint: intent-router}, metric: request-count, absent: true}\n",
        encoding="utf-8",
    )
    out = manifests / "out.yaml"
    result = run_cli(cli, ["alerts", "suggest", str(manifests), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = specs(out)
    assert "support-chat-error-rate" not in written  # chat-errors watches the same target and metric
    assert written["support-chat-latency-p99-2"]["metric"] == "latency-p99"  # the name was taken
    assert load(manifests).ok


def test_an_existing_file_is_not_overwritten_without_force(manifests: Path, tmp_path: Path) -> None:
    out = tmp_path / "notes.yaml"
    out.write_text("# my notes\n", encoding="utf-8")
    result = run_cli(cli, ["alerts", "suggest", str(manifests), "--out", str(out)])
    assert result.exit_code == 1
    assert "exists; pass --force" in result.output
    assert out.read_text(encoding="utf-8") == "# my notes\n"


def test_invalid_manifests_are_reported_and_nothing_is_written(manifests: Path) -> None:
    (manifests / "broken.yaml").write_text("apiVersion: genaiops/v1\nkind: Alert\nmetadata: {name: x}\n")
    result = run_cli(cli, ["alerts", "suggest", str(manifests)])
    assert result.exit_code == 1
    assert "broken.yaml" in result.output
    assert not (manifests / "alerts").exists()


def test_a_missing_directory_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli(cli, ["alerts", "suggest", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def _manifest(kind: type[M], name: str, spec: dict[str, object]) -> M:
    return kind.model_validate(
        {"apiVersion": "genaiops/v1", "kind": kind.__name__, "metadata": {"name": name}, "spec": spec}
    )


def test_the_cost_alert_comes_from_the_smallest_budget_and_the_first_channel_is_notified() -> None:
    budgets = [
        _manifest(Budget, "team", {"limits": {"serving": 900.0}}),
        _manifest(Budget, "org", {"limits": {"serving": 3000.0}}),
    ]
    channels = [
        _manifest(NotificationChannel, "pager", {"type": "email", "address": "a@example.com"}),
        _manifest(NotificationChannel, "slack", {"type": "email", "address": "b@example.com"}),
    ]
    suggestions = suggest_alerts([*budgets, *channels])
    (cost,) = suggestions
    assert cost.document["spec"]["threshold"] == "$30"
    assert cost.document["spec"]["notify"] == ["pager"]


def test_every_production_like_label_gets_a_feedback_alert() -> None:
    prompt = _manifest(
        Prompt,
        "triage",
        {"model": "m", "template": "x", "labels": ["staging", "prod", "prod-eu", "canary"]},
    )
    names = [s.name for s in suggest_alerts([prompt])]
    assert names == ["project-cost-per-day", "triage-prod-feedback-score", "triage-prod-eu-feedback-score"]
    assert [is_production_label(x) for x in ("production", "prod", "prod-eu", "production-2", "produce")] == [
        True,
        True,
        True,
        True,
        False,
    ]


def test_a_long_endpoint_name_still_gives_valid_alert_names() -> None:
    long = endpoint("e" * 63)
    for suggestion in suggest_alerts([long]):
        Alert.model_validate(suggestion.document)
        assert len(suggestion.name) <= 63


def test_rendering_is_deterministic() -> None:
    manifests = [endpoint("chat"), endpoint("search")]
    assert render(suggest_alerts(manifests)) == render(suggest_alerts(list(reversed(manifests))))
