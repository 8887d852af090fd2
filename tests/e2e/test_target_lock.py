"""The lock and prompt store of a running-emulator target live with the emulator (issue 10): clients in
different directories, spelling its address differently, meet at one lease; an address nothing listens on
fails in seconds, while a live emulator's UNAVAILABLE is still retried.

Every client is a real `python -m controller` child process talking to the emulator over loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml
from tests.e2e.reconcile_helpers import Controller, GitRepo, free_port, reconcile_argv
from tests.helpers import child_env

REPO = Path(__file__).resolve().parents[2]
PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: greet}
spec:
  model: gemini
  template: "Hello {{ customer }}!"
  variables: {customer: {type: string}}
  labels: [production]
---
apiVersion: genaiops/v1
kind: Model
metadata: {name: gemini}
spec: {publisher: publishers/google/models/gemini-2.0-flash}
"""


def _env() -> dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _genaiops(cwd: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "controller", *args]
    return subprocess.Popen(command, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _directory(root: Path, name: str, **files: str) -> Path:
    """A working directory `root/name` with these manifests (file name -> YAML) under `manifests/`."""
    manifests = root / name / "manifests"
    manifests.mkdir(parents=True)
    for file, text in files.items():
        (manifests / f"{file}.yaml").write_text(text, encoding="utf-8")
    return root / name


def _audit(directory: Path) -> list[dict[str, Any]]:
    """The audit records `apply` wrote to its default, relative `.genaiops/audit.log`."""
    text = (directory / ".genaiops" / "audit.log").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _times(records: list[dict[str, Any]]) -> list[float]:
    return [datetime.fromisoformat(str(r["time"])).timestamp() for r in records]


def test_two_applies_from_different_directories_and_address_spellings_take_turns_and_both_succeed(
    make_workspace: Any, tmp_path: Path
) -> None:
    workspace: Workspace = make_workspace(lro_delay_s=1.0)  # each apply holds the lock for several seconds
    port = workspace.emulator.grpc_port
    spellings = {"one": f"127.0.0.1:{port}", "two": f"localhost:{port}"}
    directories = {
        name: _directory(
            tmp_path,
            name,
            models=model_yaml(name=f"llm-{name}"),
            endpoints=endpoint_yaml(name=f"chat-{name}", deployments=f"[{{name: primary, model: llm-{name}}}]"),
        )
        for name in spellings
    }
    children = {
        name: _genaiops(
            directories[name], "apply", "manifests", "--auto-approve", "--lock-timeout", "120", "--emulator", address
        )
        for name, address in spellings.items()
    }
    outputs = {name: child.communicate(timeout=180)[0] for name, child in children.items()}

    assert {name: child.returncode for name, child in children.items()} == {"one": 0, "two": 0}, outputs
    audits = {name: _audit(directory) for name, directory in directories.items()}
    for name, records in audits.items():
        events = [r["event"] for r in records if "event" in r]
        assert events[0] == "apply-started" and events[-1] == "apply-finished", (name, events)
        assert len(records) >= 5, (name, records)  # started, upload, create, deploy + traffic, finished
    first, second = sorted(audits.values(), key=lambda records: min(_times(records)))
    assert max(_times(first)) <= min(_times(second)), "the two applies interleaved"
    for directory in directories.values():
        assert not (directory / ".genaiops" / "locks").exists()  # nothing lock-like next to the client
    lease = workspace.storage().bucket("local-project-genaiops").blob("locks/local-project.json")
    assert not lease.exists()  # released by both


def test_prompts_published_through_one_spelling_are_seen_through_the_other_from_another_directory(
    workspace: Workspace, tmp_path: Path
) -> None:
    port = workspace.emulator.grpc_port
    publisher = _directory(tmp_path, "publisher", prompts=PROMPT)
    applied = _genaiops(publisher, "apply", "manifests", "--auto-approve", "--emulator", f"127.0.0.1:{port}")
    output = applied.communicate(timeout=120)[0]
    assert applied.returncode == 0, output
    assert "publish version" in output and "of prompt greet: done" in output

    reader = _directory(tmp_path, "reader", prompts=PROMPT)
    planned = _genaiops(reader, "plan", "manifests", "--detailed-exitcode", "--emulator", f"localhost:{port}")
    output = planned.communicate(timeout=120)[0]
    assert planned.returncode == 0, output  # nothing to publish: the store is the emulator's
    bucket = workspace.storage().bucket("local-project-genaiops")
    assert bucket.blob("prompts/prompts/greet/index.json").exists()
    assert not (publisher / ".genaiops" / "emulator").exists()


@contextmanager
def _replica(workspace: Workspace, repo: GitRepo, directory: Path, address: str, name: str) -> Iterator[Controller]:
    """`genaiops reconcile --watch` run from `directory` against the emulator spelled `address`."""
    argv = reconcile_argv(workspace, repo, "--watch", "--interval", "1s", name=name)
    argv[-1] = address
    log = workspace.root / f"{name}.log"
    directory.mkdir(parents=True)
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=directory, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            yield Controller(process, log, workspace.root / f"{name}-audit.log")
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def test_two_reconcile_replicas_in_different_directories_elect_one_leader(workspace: Workspace) -> None:
    repo = GitRepo(workspace.root / "repo")
    repo.commit("serve llm", models=model_yaml(), endpoints=endpoint_yaml())
    port = workspace.emulator.grpc_port
    with _replica(workspace, repo, workspace.root / "one", f"127.0.0.1:{port}", "one") as one:
        one.wait_for("leader: holding the lease", timeout_s=30)
        with _replica(workspace, repo, workspace.root / "two", f"localhost:{port}", "two") as two:
            two.wait_for("standby", timeout_s=30, count=2)
            assert not two.messages("leader:"), two.output()
            one.terminate()
            assert one.wait(10) == 0, one.output()
            two.wait_for("leader: holding the lease", timeout_s=10)
            two.terminate()
            assert two.wait(10) == 0, two.output()


def test_an_apply_against_a_port_nothing_listens_on_fails_in_seconds_with_a_clear_message(tmp_path: Path) -> None:
    directory = _directory(tmp_path, "work", models=model_yaml(), endpoints=endpoint_yaml())
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    child = _genaiops(directory, "apply", "manifests", "--auto-approve", "--emulator", address)
    output = child.communicate(timeout=60)[0]
    elapsed = time.monotonic() - started
    assert child.returncode == 1, output
    assert f"Error: cannot connect to the emulator at {address}: nothing answered within 3 s" in output
    assert "Traceback" not in output
    assert elapsed < 15, f"took {elapsed:.1f}s"  # 3 s to connect, plus the interpreter and imports


def test_unavailable_from_a_live_emulator_is_still_retried(make_workspace: Any) -> None:
    workspace: Workspace = make_workspace(faults=["ListEndpoints:fail_next=3:code=UNAVAILABLE"])
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml())
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    assert workspace.emulator.faults.injected == {"google.cloud.aiplatform.v1.EndpointService/ListEndpoints": 3}
