"""The dashboard with a thousand endpoints more: the overview is built in the background and answered from
memory, every row there, each request in well under a second (served by `genaiops dashboard` in a child
process, the endpoints seeded straight into the emulator's state)."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.dashboard_fixtures import dashboard_site

ENDPOINTS = 1000


@pytest.mark.slow
def test_the_overview_of_a_thousand_endpoints_is_answered_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with dashboard_site(tmp_path, endpoints=ENDPOINTS) as site:
        overview = site.get_json("/api/overview")
        assert len(overview["resources"]) == ENDPOINTS + 3
        assert overview["counts"]["synced"] == ENDPOINTS + 3
        slowest = 0.0
        for _ in range(20):
            started = time.perf_counter()
            with urllib.request.urlopen(site.url + "/api/overview", timeout=30) as answer:
                assert len(answer.read()) > 100_000
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.5, f"an overview took {slowest:.2f}s"
        rollout = site.get_json("/api/rollout?kind=Endpoint&name=chat&part=primary")
        assert rollout["phase"] == "degraded"
