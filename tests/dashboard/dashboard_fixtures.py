"""Fixtures for the dashboard's tests, shared with its browser tests: an emulator with a canary that rolled
back and a prompt with two published versions, and `genaiops dashboard` serving it on a free loopback port.

    with dashboard_site(tmp_path) as site:          # emulator + rolled-back canary + dashboard
        page.goto(site.url)                          # http://127.0.0.1:PORT/

    with dashboard_site(tmp_path, endpoints=1000):   # the same, with 1,000 more endpoints seeded

`seed_endpoints` writes endpoints straight into the emulator's state (and their manifests), so a thousand
take a fraction of a second instead of a thousand applies. Everything stays on loopback: the emulator, the
real Google clients and the dashboard, which runs as a child process (`python -m controller dashboard`).
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.emulator.server import running
from controller.emulator.vertex.state import EndpointRecord
from tests.e2e.canary_helpers import ERRORING, HEALTHY_V1, TRAFFIC, canary_yaml, wait_until
from tests.e2e.conftest import Workspace, model_yaml
from tests.helpers import child_env

REPO = Path(__file__).resolve().parents[2]
CANARY = "chat"  # the canary Endpoint (deployment `primary`) that rolls back on error-rate
PROMPT_NAME = "greet"
PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greet}}
spec:
  model: gemini
  template: "{template}"
  variables: {{customer: {{type: string}}}}
  labels: [production]
---
apiVersion: genaiops/v1
kind: Model
metadata: {{name: gemini}}
spec: {{publisher: publishers/google/models/gemini-2.0-flash}}
"""
TEMPLATE_V1 = "Hello {{ customer }}"
TEMPLATE_V2 = "Hello {{ customer }}, welcome back"
_NOT_COPIED = ("genaiops-ro-", "genaiops-spec")
_URL = re.compile(r"(http://\S+?)/?(?:\s|$)")


@dataclass
class DashboardSite:
    """A served dashboard: its base URL (no trailing slash), the workspace (emulator and manifests) and the
    audit log it reads."""

    url: str
    workspace: Workspace
    audit_log: Path
    process: subprocess.Popen[bytes]

    def get_json(self, path: str) -> Any:
        """GET `path` (`/api/overview`) and parse the JSON answer."""
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return json.loads(answer.read())


def write_manifests(workspace: Workspace, *, artifact: str, template: str) -> None:
    """The `llm` Model at `artifact`, the canary Endpoint `chat`, and the Prompt `greet` on `template`."""
    workspace.write(
        models=model_yaml(artifact=artifact),
        endpoints=canary_yaml(),
        prompts=PROMPT.format(template=template),
    )


def apply_rolled_back_canary(workspace: Workspace) -> None:
    """Apply version 1 (endpoint and prompt), then version 2: the prompt's second version is published, and
    the endpoint's erroring canary is rolled back by its error-rate analysis (`apply --wait` exits 1)."""
    write_manifests(workspace, artifact=HEALTHY_V1, template=TEMPLATE_V1)
    first = workspace.apply()
    assert first.exit_code == 0, first.output
    write_manifests(workspace, artifact=ERRORING, template=TEMPLATE_V2)
    second = workspace.apply("--wait")
    assert second.exit_code == 1 and "Rolled back chat/primary" in second.output, second.output


@contextmanager
def canary_workspace(root: Path) -> Iterator[Workspace]:
    """An emulator with synthetic traffic and Cloud Storage (the prompt store), and a workspace on it under
    `root` (which must not have a `manifests` directory yet)."""
    with running(rest_port=None, storage_port=0, **TRAFFIC) as emulator:
        yield Workspace(root, emulator)


def seed_endpoints(workspace: Workspace, count: int, *, prefix: str = "fleet") -> list[str]:
    """Add `count` endpoints (`fleet-0000` ...) to the emulator's state, each a copy of the live `chat`
    endpoint's version 1 (same deployed model, no rollout record, no synthetic traffic), and a manifest for each in
    `fleet.yaml`; returns their names. Needs `chat` applied first."""
    emulator = workspace.emulator
    names = [f"{prefix}-{i:04d}" for i in range(count)]
    with emulator.state.transaction(write=True) as state:
        template = state.endpoints[f"{emulator.parent}/endpoints/{CANARY}"]
        for name in names:
            record: EndpointRecord = copy.deepcopy(template)
            record.name = f"{emulator.parent}/endpoints/{name}"
            record.display_name = name
            # no rollout record, and no spec hash (a resource that never recorded one plans as in sync)
            record.labels = {k: v for k, v in record.labels.items() if not k.startswith(_NOT_COPIED)}
            state.endpoints[record.name] = record
    for name in names:
        emulator.traffic.set_rate(name, 0)
    documents = [
        "apiVersion: genaiops/v1\nkind: Endpoint\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n  deployments: [{name: primary, model: llm@1}]\n  traffic: {primary: 100}\n"
        for name in names
    ]
    (workspace.manifests / f"{prefix}.yaml").write_text("---\n".join(documents), encoding="utf-8")
    return names


@contextmanager
def serve_dashboard(workspace: Workspace, *extra: str, timeout_s: float = 60.0) -> Iterator[DashboardSite]:
    """`python -m controller dashboard MANIFESTS --port 0 --emulator ADDR --audit-log ROOT/audit.log` in a
    child process; yields once /api/overview answers, and stops it with SIGTERM on exit."""
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    audit_log = workspace.root / "audit.log"
    argv = [
        sys.executable,
        "-m",
        "controller",
        "dashboard",
        str(workspace.manifests),
        "--port",
        "0",
        "--audit-log",
        str(audit_log),
        *extra,
        "--emulator",
        workspace.emulator.grpc_target,
    ]
    log = workspace.root / f"dashboard-{time.monotonic_ns()}.out"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=workspace.root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = _wait_for_url(process, log, timeout_s=timeout_s)
        site = DashboardSite(url, workspace, audit_log, process)
        wait_until(lambda: _answers(site), timeout_s=timeout_s, what=f"{url}/api/overview", every_s=0.2)
        yield site
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def dashboard_site(root: Path, *, endpoints: int = 0) -> Iterator[DashboardSite]:
    """An emulator with the rolled-back canary `chat` and the prompt `greet` (two versions), `endpoints`
    more endpoints seeded, and the dashboard serving it: the whole site, ready to browse."""
    with canary_workspace(root) as workspace:
        apply_rolled_back_canary(workspace)
        if endpoints:
            seed_endpoints(workspace, endpoints)
        with serve_dashboard(workspace) as site:
            yield site


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, *, timeout_s: float) -> str:
    found: list[str] = []

    def printed() -> bool:
        match = _URL.search(log.read_text(encoding="utf-8", errors="replace"))
        if match is not None:
            found.append(match[1].rstrip("/"))
            return True
        if process.poll() is not None:
            raise AssertionError(f"genaiops dashboard exited {process.returncode}:\n{log.read_text()}")
        return False

    wait_until(printed, timeout_s=timeout_s, what="genaiops dashboard to print its URL", every_s=0.1)
    return found[0]


def _answers(site: DashboardSite) -> bool:
    if site.process.poll() is not None:
        raise AssertionError(f"genaiops dashboard exited {site.process.returncode}")
    try:
        site.get_json("/api/overview")
    except OSError:
        return False
    return True
