"""Page data on the emulator, through the real Google clients: after a canary that rolled back on its
error rate, the rollout page has the failing metric's canary series above its threshold, the measurements
with their verdicts and the rollback on the timeline; the overview has every resource with sync and
health; the prompt pages show versions, labels, history and the template diff; the cost page prices what
it can; the audit page filters, newest first, and skips unreadable lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest

from controller.cli.dashboard_cmd import CostReadings
from controller.cli.target import open_target, spec_from_flags
from controller.cli.wiring import session_of
from controller.dashboard.audit_page import AuditReader, audit_page
from controller.dashboard.page_data import DashboardSource, Pages
from controller.errors import NotFoundError, UserError
from controller.loader import load
from controller.model.catalogue.lifecycle import Horizon
from tests.dashboard.dashboard_fixtures import TEMPLATE_V1, TEMPLATE_V2, apply_rolled_back_canary, canary_workspace
from tests.e2e.conftest import Workspace


@dataclass
class Site:
    """Page data on a target whose canary `chat/primary` rolled back."""

    pages: Pages
    workspace: Workspace
    audit_log: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
        with canary_workspace(root) as workspace:
            apply_rolled_back_canary(workspace)
            spec = spec_from_flags(
                target=None, project=None, emulator=workspace.emulator.grpc_target, lock_bucket=None, state_dir=None
            )
            with open_target(spec, ["us-central1"]) as opened:
                source = DashboardSource(
                    session=session_of(opened),
                    load=lambda: load(workspace.manifests),
                    audit_log=root / "audit.log",
                    cost=CostReadings(opened, spec),
                )
                pages = Pages(source, refresh_s=60)
                pages.snapshots.refresh()
                yield Site(pages, workspace, root / "audit.log")


def test_the_rollout_page_shows_the_failing_metric_of_a_rolled_back_canary_above_its_threshold(site: Site) -> None:
    page = site.pages.rollout(kind="Endpoint", name="chat", part="primary")
    assert (page["identity"], page["phase"], page["weight"]) == ("chat/primary", "degraded", 0)
    assert page["reason"].startswith("error-rate ") and "> max 0.05" in page["reason"]
    assert page["stable"] and page["canary"] and page["stable"] != page["canary"]
    error_rate = next(m for m in page["metrics"] if m["name"] == "error-rate")
    assert error_rate["threshold"] == {"kind": "max", "value": 0.05, "text": "max 0.05"}
    above = [v for _, v in error_rate["canary"] if v is not None and v > 0.05]
    assert above, error_rate["canary"]  # the canary's line crosses the threshold
    assert all(v is None or v <= 0.05 for _, v in error_rate["stable"]), error_rate["stable"]
    verdicts = [m["verdict"] for m in error_rate["measurements"]]
    assert verdicts and set(verdicts) == {"failed"}
    latency = next(m for m in page["metrics"] if m["name"] == "latency-p99")
    assert latency["unit"] == "ms" and latency["threshold"]["kind"] == "maxMs" and latency["threshold"]["value"] == 300
    assert {m["verdict"] for m in latency["measurements"]} == {"passed"}
    assert any(v is not None for _, v in latency["stable"])


def test_the_rollout_page_has_the_steps_the_timeline_and_the_weight_over_time(site: Site) -> None:
    page = site.pages.rollout(kind="endpoint", name="chat", part="")  # any case; the recorded part by default
    assert [(s["index"], s["weight"], s["pause"]) for s in page["steps"]] == [(0, 20, "2s"), (1, 50, "2s")]
    kinds = [e["kind"] for e in page["events"]]
    assert kinds[0] == "started" and kinds[-1] == "aborted" and "measured" in kinds
    aborted = page["events"][-1]
    assert aborted["weight"] == 0 and "error-rate" in aborted["detail"]
    assert page["started_at"] == page["events"][0]["at"] and page["finished_at"] == aborted["at"]
    assert tuple(page["weights"][0]) == (page["started_at"], 20.0)
    assert page["weights"][-1][1] == 0.0
    times = [at for at, _ in page["weights"]]
    assert times == sorted(times)
    json.dumps(page, allow_nan=False)  # strict JSON: no NaN anywhere


def test_an_unknown_rollout_or_part_is_not_found_and_a_bad_kind_is_a_user_error(site: Site) -> None:
    with pytest.raises(NotFoundError, match="no canary Endpoint named 'nope'"):
        site.pages.rollout(kind="Endpoint", name="nope", part="primary")
    with pytest.raises(NotFoundError, match="no rollout recorded for chat/secondary"):
        site.pages.rollout(kind="Endpoint", name="chat", part="secondary")
    with pytest.raises(UserError, match="kind: Endpoint or Prompt"):
        site.pages.rollout(kind="Model", name="llm", part="")
    with pytest.raises(NotFoundError, match="no Endpoint experiment named 'chat'"):
        site.pages.experiment(kind="Endpoint", name="chat")


def test_the_overview_lists_every_resource_with_its_sync_and_health_and_links_the_rollout(site: Site) -> None:
    overview = site.pages.overview()
    rows = {r["address"]: r for r in overview["resources"]}
    assert set(rows) == {"Model/us-central1/llm", "Endpoint/us-central1/chat", "Prompt/global/greet"}
    chat = rows["Endpoint/us-central1/chat"]
    assert (chat["sync"], chat["health"], chat["action"]) == ("synced", "degraded", "no-op")
    assert "rolled back" in chat["reason"] and chat["rollout"] == "Endpoint/chat/primary"
    assert not chat["drift"] and not chat["suspended"]
    assert rows["Prompt/global/greet"]["health"] == "healthy" and rows["Prompt/global/greet"]["rollout"] is None
    assert overview["counts"] == {"synced": 3, "healthy": 2, "degraded": 1}
    (rollout,) = overview["rollouts"]
    assert (rollout["kind"], rollout["name"], rollout["part"], rollout["phase"]) == (
        "Endpoint",
        "chat",
        "primary",
        "degraded",
    )
    assert (rollout["steps"], rollout["weight"]) == (2, 0)
    assert overview["target"].startswith("emulator ") and overview["problems"] == []
    assert json.loads(site.pages.overview_body()) == json.loads(json.dumps(overview))


def test_the_overview_shows_a_prompt_whose_model_retires_within_the_horizon_as_retiring(site: Site) -> None:
    day = Horizon(date(2025, 12, 20))  # gemini-2.0-flash's last day is 2026-02-05
    source = replace(site.pages.source, load=lambda: load(site.workspace.manifests, horizon=day))
    pages = Pages(source, refresh_s=60)
    pages.snapshots.refresh()
    rows = {r["address"]: r for r in pages.overview()["resources"]}
    greet = rows["Prompt/global/greet"]
    assert (greet["health"], greet["reason"]) == (
        "retiring",
        "through gemini: gemini-2.0-flash retiring in 47 days (last day 2026-02-05); move to gemini-2.5-flash",
    )
    assert rows["Endpoint/us-central1/chat"]["health"] == "degraded"  # a worse health is never masked
    assert json.loads(pages.overview_body())["resources"] == json.loads(json.dumps(pages.overview()["resources"]))
    assert site.pages.overview()["counts"]["healthy"] == 2  # without a horizon: nothing is judged


def test_the_snapshot_version_goes_up_only_when_what_the_pages_show_changed(site: Site) -> None:
    store = site.pages.snapshots
    before = store.refresh().version
    assert store.refresh().version == before
    with site.audit_log.open("a", encoding="utf-8") as log:
        log.write(json.dumps({"time": "2030-01-01T00:00:00+00:00", "event": "note", "detail": "a test line"}) + "\n")
    assert store.refresh().version == before + 1
    assert store.wait_for_change(before, timeout_s=0.1) == before + 1


def test_the_prompt_pages_show_versions_labels_history_and_the_template_diff(site: Site) -> None:
    (row,) = site.pages.prompts()["prompts"]
    assert (row["name"], row["versions"], row["rollouts"]) == ("greet", 2, [])
    page = site.pages.prompt(name="greet")
    newest, oldest = page["versions"]
    assert page["labels"] == {"production": newest["version"]} == row["labels"]
    assert newest["labels"] == ["production"] and oldest["labels"] == []
    assert newest["model"] == "publishers/google/models/gemini-2.0-flash"
    moves = [(h["label"], h["version"], h["previous"]) for h in page["history"]]
    assert moves == [("production", newest["version"], oldest["version"]), ("production", oldest["version"], None)]
    assert page["history"][0]["reason"] == "applied from the manifests"
    diff = site.pages.prompt_diff(name="greet", a=oldest["version"][:6], b="production")
    assert (diff["a"], diff["b"], diff["same"]) == (oldest["version"], newest["version"], False)
    assert f"-{TEMPLATE_V1}" in diff["unified"] and f"+{TEMPLATE_V2}" in diff["unified"]
    assert diff["unified"][:2] == [f"--- greet@{oldest['version']}", f"+++ greet@{newest['version']}"]
    assert site.pages.prompt_diff(name="greet", a="production", b="production")["same"]
    with pytest.raises(NotFoundError, match="no prompt named 'nope'"):
        site.pages.prompt(name="nope")
    with pytest.raises(UserError, match="no version of prompt 'greet' match 'ffff'"):
        site.pages.prompt_diff(name="greet", a="ffff", b="production")


def test_the_cost_page_has_a_daily_series_per_kind_and_never_invents_a_price(site: Site) -> None:
    page = site.pages.cost(since="2d", by="endpoint")
    assert (page["since"], page["by"], page["currency"]) == ("2d", "endpoint", "USD")
    assert set(page["daily"]) == {"serving", "tokens", "tuning"}
    assert all(len(points) == 2 for points in page["daily"].values()) and len(page["requests"]) == 2
    for row in page["rows"]:
        assert row["total"] == pytest.approx(row["serving"] + row["tokens"] + row["tuning"])
    long = site.pages.cost(since="90d", by="model")
    assert len(long["requests"]) == 31 and any("last 31 days" in line for line in long["unpriced"])
    with pytest.raises(UserError, match="since: expected a duration"):
        site.pages.cost(since="soon", by="endpoint")
    with pytest.raises(UserError, match="by: one of endpoint, prompt, model, label"):
        site.pages.cost(since="1d", by="colour")


def test_the_audit_page_filters_by_text_event_and_resource_newest_first(site: Site) -> None:
    everything = site.pages.audit_log(limit=5000)
    times = [r["at"] for r in everything["rows"]]
    assert times == sorted(times, reverse=True) and everything["total"] == len(everything["rows"])
    assert {"apply-started", "DeployModel", "rollout-aborted", "rollout-measured"} <= set(everything["events"])
    aborted = site.pages.audit_log(event="rollout-aborted")
    assert aborted["total"] == 1
    (row,) = aborted["rows"]
    assert (row["resource"], row["status"]) == ("chat", "aborted") and "error-rate" in row["summary"]
    assert row["record"]["deployment"] == "primary"
    deploys = site.pages.audit_log(event="DeployModel", resource="endpoint/us-central1/CHAT")
    assert deploys["total"] == 2 and all(r["resource"] == "Endpoint/us-central1/chat" for r in deploys["rows"])
    assert site.pages.audit_log(text="WELCOME BACK")["total"] == 0  # templates are not in the audit log
    assert site.pages.audit_log(text="max 0.05", limit=1)["total"] >= 2
    assert len(site.pages.audit_log(text="max 0.05", limit=1)["rows"]) == 1
    with pytest.raises(UserError, match="limit: from 1 to 5000"):
        site.pages.audit_log(limit=0)


def test_an_unreadable_audit_line_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    good = {"time": "2025-01-01T00:00:00+00:00", "event": "apply-started", "target": "t"}
    lines = [json.dumps(good), "{not json", "[1, 2]", json.dumps({"event": "no time"}), "", json.dumps(good)]
    path.write_text("\n".join(lines) + "\n" + '{"time": "2025-01-01T00:00:01+00:00", "event": "torn', encoding="utf-8")
    reader = AuditReader(path)
    records, skipped = reader.records()
    assert (len(records), skipped) == (2, 3)  # the torn last line is not read until it is whole
    with path.open("a", encoding="utf-8") as log:
        log.write('"}\n')
    records, skipped = reader.records()
    assert (len(records), skipped) == (3, 3) and records[-1].event == "torn"
    page = audit_page(records, skipped=skipped, limit=2)
    assert page["skipped"] == 3 and page["total"] == 3 and len(page["rows"]) == 2


def test_a_rotated_audit_log_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    line = json.dumps({"time": "2025-01-01T00:00:00+00:00", "event": "apply-started"}) + "\n"
    path.write_text(line * 3, encoding="utf-8")
    reader = AuditReader(path)
    assert len(reader.records()[0]) == 3
    path.unlink()
    path.write_text(line, encoding="utf-8")
    assert len(reader.records()[0]) == 1
    assert AuditReader(tmp_path / "missing.log").records() == ((), 0)


def test_manifests_that_stop_loading_are_reported_and_the_last_good_ones_stay_shown(site: Site) -> None:
    broken = site.workspace.manifests / "broken.yaml"
    broken.write_text("apiVersion: genaiops/v1\nkind: Endpoint\nmetadata: {name: x}\nspec: {traffic: 3}\n")
    try:
        overview = site.pages.snapshots.refresh().built.overview
        assert overview["problems"][0] == "the manifests have errors; showing the last manifests that loaded:"
        assert any("broken.yaml" in line for line in overview["problems"][1:])
        assert len(overview["resources"]) == 3
    finally:
        broken.unlink()
    assert site.pages.snapshots.refresh().built.overview["problems"] == []
