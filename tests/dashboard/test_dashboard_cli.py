"""`genaiops dashboard` and `genaiops reconcile --ui` as a user runs them, in child processes against the
emulator on loopback: the dashboard on port 0 prints its URL, serves the overview and stops on SIGTERM
with exit 0; the reconcile loop serves the same pages beside its probes; a bind beyond loopback without a
login is refused with a message, never a traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import main
from controller.emulator.server import running
from tests.dashboard.dashboard_fixtures import REPO, serve_dashboard
from tests.e2e.canary_helpers import wait_until
from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml
from tests.helpers import child_env


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """An emulator with the `chat` endpoint serving `llm` applied."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with running(rest_port=None, storage_port=0) as emulator:
        workspace = Workspace(tmp_path, emulator)
        workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
        applied = workspace.apply()
        assert applied.exit_code == 0, applied.output
        yield workspace


def _env() -> dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _genaiops(cwd: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def test_genaiops_dashboard_on_port_0_serves_the_overview_and_stops_on_sigterm(workspace: Workspace) -> None:
    with serve_dashboard(workspace) as site:
        overview = site.get_json("/api/overview")
        assert {r["address"] for r in overview["resources"]} == {"Model/us-central1/llm", "Endpoint/us-central1/chat"}
        assert overview["counts"] == {"synced": 2, "healthy": 2}
        with urllib.request.urlopen(site.url + "/", timeout=10) as page:
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
        site.process.send_signal(signal.SIGTERM)
        assert site.process.wait(timeout=20) == 0
    output = next(workspace.root.glob("dashboard-*.out")).read_text(encoding="utf-8")
    assert f"{site.url}/" in output and "Read-only" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--host", "0.0.0.0"), "refusing to serve the dashboard on 0.0.0.0, beyond loopback, without a login"),
        (("--host", "0.0.0.0", "--token", "short"), "at least 16 characters"),
        (("--refresh", "1ms"), "too short"),
        (("--port", "70000"), "70000 is not in the range"),
    ],
)
def test_the_dashboard_refuses_bad_flags_with_a_message(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.delenv("GENAIOPS_DASHBOARD_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["dashboard", str(tmp_path), "--port", "0", *args])
    assert exited.value.code == 1
    printed = capsys.readouterr()
    assert message in printed.err
    assert "Traceback" not in printed.err + printed.out


def test_reconcile_ui_serves_the_dashboard_beside_the_probes(workspace: Workspace) -> None:
    argv = [
        sys.executable,
        "-m",
        "controller",
        "reconcile",
        str(workspace.manifests),
        "--watch",
        "--interval",
        "2s",
        "--metrics-port",
        "0",
        "--metrics-host",
        "127.0.0.1",
        "--ui",
        "--audit-log",
        str(workspace.root / "audit.log"),
        "--emulator",
        workspace.emulator.grpc_target,
    ]
    log = workspace.root / "reconcile.out"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=workspace.root, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        found: list[str] = []

        def printed() -> bool:
            match = re.search(r"/readyz on (http://127\.0\.0\.1:\d+)", log.read_text(encoding="utf-8"))
            assert process.poll() is None, log.read_text(encoding="utf-8")
            if match:
                found.append(match[1])
            return bool(match)

        wait_until(printed, timeout_s=60, what="reconcile to serve its metrics", every_s=0.1)
        url = found[0]

        def overview() -> bool:
            try:
                return bool(_get_json(url + "/api/overview")["resources"])
            except OSError:
                return False

        wait_until(overview, timeout_s=60, what="the dashboard's overview on the metrics port", every_s=0.2)
        with urllib.request.urlopen(url + "/healthz", timeout=10) as health:
            assert health.status == 200
        with urllib.request.urlopen(url + "/", timeout=10) as page:
            assert b"<html" in page.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text(encoding="utf-8")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert "Traceback" not in log.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ui",), "--ui serves the dashboard on --metrics-port"),
        (("--ui", "--metrics-port", "0"), "pass --ui-token (or set GENAIOPS_DASHBOARD_TOKEN), or --behind-iap"),
    ],
)
def test_reconcile_ui_refuses_a_dashboard_it_cannot_guard(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = _genaiops(tmp_path, "reconcile", str(tmp_path), *args)
    assert result.returncode == 1, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
