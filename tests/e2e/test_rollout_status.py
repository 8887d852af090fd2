"""`genaiops rollout status` from any process (issue 11): a second process, in another directory, with only
`--emulator ADDR` in common with the apply, measures the canary itself through Cloud Monitoring and shows
the same measurements `apply --wait` judges; `--watch` prints a line (or a JSON document) per change
without a terminal, redraws in place on one, and stops when the rollout has finished.

Every `rollout status` here runs as a real child process (`python -m controller`), like a person's second
terminal or a CI step, against the emulator over loopback with synthetic prediction traffic.
"""

from __future__ import annotations

import itertools
import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.e2e.canary_helpers import (
    HEALTHY_V2,
    REPO,
    apply_process,
    rollout_events,
    rollout_labels,
    wait_until,
    write_version,
)
from tests.e2e.conftest import Workspace
from tests.helpers import child_env

LONG_STEP = "[{weight: 20, pause: 1m}]"  # outlasts the test: the apply is still driving it when status runs
HELD_FIRST_STEP = "[{weight: 20, pause: 10m}, {weight: 50, pause: 2s}]"  # step 1 ends by `rollout promote`
POLL_S = 0.2  # how often the watchers here measure
LINE = re.compile(  # a `--watch` line without a terminal, up to the measurements
    r"^\d\d:\d\d:\d\d chat/primary (?P<phase>\w+) step (?P<step>\d)/2(?: weight (?P<weight>\d+)% of 100%)?"
)


def _elsewhere(workspace: Workspace) -> Path:
    """A working directory that shares nothing with the apply's (no manifests, no .genaiops)."""
    directory = workspace.root / "second-terminal"
    directory.mkdir(exist_ok=True)
    return directory


def _status_argv(workspace: Workspace, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "controller",
        "rollout",
        "status",
        "chat",
        "-f",
        str(workspace.manifests),
        *args,
        "--emulator",
        workspace.emulator.grpc_target,
    ]


def _env() -> dict[str, str]:
    env = child_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_INTERACTIVE", None)
    env["COLUMNS"] = "200"  # a wide table: every cell on one line
    return env


def _status_process(workspace: Workspace, *args: str) -> subprocess.Popen[str]:
    """`genaiops rollout status chat ARGS --emulator ADDR` in another directory, its output to pipes."""
    return subprocess.Popen(
        _status_argv(workspace, *args),
        cwd=_elsewhere(workspace),
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Follower:
    """`genaiops rollout status chat ARGS --watch` in another directory, its output collected as it comes:
    to a pipe (as in CI), or with `terminal` to a pseudo-terminal (so it sees a person's terminal)."""

    def __init__(self, workspace: Workspace, *args: str, terminal: bool = False) -> None:
        argv = _status_argv(workspace, "--watch", "--interval", f"{int(POLL_S * 1000)}ms", *args)
        self.started = time.monotonic()
        self.chunks: list[bytes] = []
        if terminal:
            source, sink = pty.openpty()
            env = {**_env(), "LINES": "40", "TERM": "xterm-256color"}
            self.process = subprocess.Popen(
                argv, cwd=_elsewhere(workspace), env=env, stdin=sink, stdout=sink, stderr=sink
            )
            os.close(sink)
        else:
            self.process = subprocess.Popen(
                argv,
                cwd=_elsewhere(workspace),
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            assert self.process.stdout is not None
            source = self.process.stdout.fileno()
        self.source = source
        self.terminal = terminal
        self._reader = threading.Thread(target=self._read, name="status-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.source, 65536)
            except OSError:  # the child closed its terminal
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def output(self) -> str:
        """Everything it has written so far."""
        return b"".join(self.chunks).decode("utf-8", errors="replace")

    def wait_for(self, text: str, *, timeout_s: float = 60) -> None:
        """Until its output holds `text` (it has started and shown the rollout)."""
        wait_until(lambda: text in self.output(), timeout_s=timeout_s, what=f"`rollout status` to print {text!r}")

    def finish(self, *, timeout_s: float) -> tuple[int, str, float]:
        """Its exit code, everything it wrote, and how many polls it had time for."""
        try:
            code = self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            self._reader.join(timeout=5)
            if self.terminal:
                os.close(self.source)
            elif self.process.stdout is not None:
                self.process.stdout.close()
        return code, self.output(), (time.monotonic() - self.started) / POLL_S


def _where(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a JSON document says changed: per rollout its phase, step, weight and each metric's verdict."""
    return [
        (r["phase"], r["step"], r["weight"], tuple((m["metric"], m["verdict"]) for m in r["measurements"]))
        for r in document["rollouts"]
    ]


def test_status_from_a_second_process_shows_the_measurements_of_the_canary_a_running_apply_drives(
    canary: Workspace,
) -> None:
    write_version(canary, HEALTHY_V2, steps=LONG_STEP)
    with apply_process(canary) as child:
        wait_until(
            lambda: bool(rollout_events(canary.root / "audit.log", "measured")),
            timeout_s=30,
            what="the child apply to measure the canary",
        )
        status = subprocess.run(
            _status_argv(canary, "--output", "json"),
            cwd=_elsewhere(canary),
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert child.process.poll() is None, "the apply stopped before status ran:\n" + child.output()
        labels = rollout_labels(canary.endpoint())
    assert status.returncode == 0, status.stdout + status.stderr
    document = json.loads(status.stdout)
    assert document["format_version"] == "1.0"
    [rollout] = document["rollouts"]
    assert (rollout["endpoint"], rollout["deployment"], rollout["phase"]) == ("chat", "primary", "progressing")
    assert rollout["revision"] == labels["revision"]
    assert (rollout["step"], rollout["steps"], rollout["weight"], rollout["share"]) == (1, 1, 20, 100)
    assert rollout["reason"] is None and not rollout["finished"] and not rollout["waiting_for_human"]
    measured = {m["metric"]: m for m in rollout["measurements"]}
    assert set(measured) == {"error-rate", "latency-p99"}, rollout
    for metric, measurement in measured.items():
        assert measurement["value"] is not None and measurement["requests"] > 0, (metric, measurement)
        assert measurement["verdict"] == "successful", (metric, measurement)
    assert measured["error-rate"]["threshold"] == "max 0.05"
    assert measured["latency-p99"]["threshold"] == "max 300 ms"
    assert rollout["window"]["start"] < rollout["window"]["end"]
    assert rollout["next_analysis_at"] is not None


def test_without_an_apply_running_status_measures_the_canary_itself_and_changes_nothing(
    canary: Workspace,
) -> None:
    write_version(canary, HEALTHY_V2, steps="[{weight: 20, pause: indefinite}, {weight: 50, pause: 2s}]")
    waited = canary.apply("--wait", "--wait-timeout", "10")
    assert waited.exit_code == 3, waited.output  # held at the indefinite pause: nothing drives it now
    before = canary.endpoint()
    measured_before = len(rollout_events(canary.root / "audit.log", "measured"))
    as_json = _status_process(canary, "--output", "json")
    as_table = _status_process(canary)
    json_out, json_err = as_json.communicate(timeout=60)
    table_out, table_err = as_table.communicate(timeout=60)
    assert (as_json.returncode, as_table.returncode) == (0, 0), json_err + table_err
    [rollout] = json.loads(json_out)["rollouts"]
    assert rollout["phase"] == "progressing" and rollout["waiting_for_human"], rollout
    assert rollout["measurements"], rollout
    assert all(m["value"] is not None and m["requests"] > 0 for m in rollout["measurements"]), rollout
    assert re.search(r"error-rate \S+ vs max 0\.05 \[ok\]", table_out), table_out
    assert re.search(r"\d+ requests", table_out) and "rollout promote" in table_out, table_out
    after = canary.endpoint()
    assert (after.etag, dict(after.labels)) == (before.etag, dict(before.labels)), "status wrote to the endpoint"
    assert len(rollout_events(canary.root / "audit.log", "measured")) == measured_before


def test_watch_without_a_terminal_prints_a_line_per_change_and_exits_when_the_rollout_finishes(
    canary: Workspace,
) -> None:
    write_version(canary, HEALTHY_V2, steps=HELD_FIRST_STEP)
    with apply_process(canary) as child:
        wait_until(
            lambda: rollout_labels(canary.endpoint()).get("phase") == "progressing",
            timeout_s=30,
            what="the child apply to start the rollout",
        )
        lines = Follower(canary)
        documents = Follower(canary, "--output", "json")
        screen = Follower(canary, terminal=True)
        lines.wait_for("step 1/2")  # all three are watching step 1 (starting Python takes seconds here)
        documents.wait_for('"step":1')
        screen.wait_for("1/2")
        time.sleep(1)  # a few more polls of an unchanged step 1
        promoted = canary.run("rollout", "promote", "chat", "-f", str(canary.manifests), "--audit-log", "-")
        assert promoted.exit_code == 0, promoted.output  # on to step 2, which the child apply drives to the end
        assert child.wait(timeout_s=60) == 0, child.output()
        lines_code, lines_out, polls = lines.finish(timeout_s=30)
        json_code, json_out, _ = documents.finish(timeout_s=30)
        terminal_code, drawn, _ = screen.finish(timeout_s=30)
    assert rollout_labels(canary.endpoint())["phase"] == "healthy"

    assert lines_code == 0, lines_out
    printed = lines_out.splitlines()
    assert 3 <= len(printed) <= 10 < polls / 2, (len(printed), polls, lines_out)  # per change, not per poll
    assert "\x1b" not in lines_out, "terminal control codes without a terminal"
    states = [(m["phase"], m["step"], m["weight"]) for m in map(LINE.match, printed) if m is not None]
    assert len(states) == len(printed), lines_out
    assert states[0] == ("progressing", "1", "20"), lines_out
    assert ("progressing", "2", "50") in states, lines_out
    assert states[-1] == ("healthy", "2", None), lines_out
    assert re.search(r"error-rate \S+ vs max 0\.05 \[ok\]; latency-p99 .* \| \d+ requests", lines_out), lines_out

    assert json_code == 0, json_out
    written = [json.loads(line) for line in json_out.splitlines()]  # JSON Lines: one document a line
    assert 3 <= len(written) <= 10, json_out
    assert all(d["format_version"] == "1.0" for d in written)
    changes = [_where(d) for d in written]
    assert all(a != b for a, b in itertools.pairwise(changes)), changes  # every line is a change
    assert written[-1]["rollouts"][0]["phase"] == "healthy" and written[-1]["rollouts"][0]["finished"]

    assert terminal_code == 0, drawn
    assert "\x1b[1A" in drawn and "\x1b[2K" in drawn, "the table was not redrawn in place"
    assert drawn.count("Rollouts") >= 3 and "healthy" in drawn, drawn
