"""Issue 20's end-to-end story: a prompt's model crosses its retirement day.

The emulator's calendar is moved over its admin RPC (`SetToday`) and every genaiops command is judged on the
same day (GENAIOPS_TODAY). Sixteen days before gemini-2.0-flash's last day (2026-02-05) `validate` warns
with the date and the successor; `models outdated --write` moves the manifest to gemini-2.5-flash and
`apply --wait` rolls the change out through the prompt canary while simulated users ask the whole time, and
not one of their requests fails. The day after the last day, `validate` of the old manifest is an error, the
runtime client's call to the old model fails naming the successor, and the promoted prompt still answers.

Nothing is mocked: the users talk to the emulator through the real google-genai SDK, the controller through
the real gapic clients.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner, Result

from controller.cli.main import cli
from controller.emulator.calendar import emulator_today, set_emulator_today
from controller.providers.runtime_models import vertex_models
from controller.runtime import ModelCallError
from controller.runtime.failures import ModelRetiredError
from controller.runtime.model import ModelRequest
from tests.e2e.conftest import Workspace
from tests.e2e.prompt_canary_helpers import LABEL, PROJECT, Users, label, prompt_workspace, record, write

OLD = "publishers/google/models/gemini-2.0-flash"  # last day 2026-02-05, successor gemini-2.5-flash
NEW = "publishers/google/models/gemini-2.5-flash"
BEFORE, AFTER = date(2026, 1, 20), date(2026, 2, 6)
TEMPLATE = "Hello {{ customer }}!"
STEPS = "[{weight: 50}, {weight: 50, pause: 2s}]"


def _offline(*args: str) -> Result:
    """A genaiops command that reads only the manifests (validate, models outdated), in-process."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _served(users: Users) -> int:
    return sum(users.served.values())


def _wait_for_more(users: Users, more: int, *, timeout_s: float = 30) -> None:
    target = _served(users) + more
    deadline = time.monotonic() + timeout_s
    while _served(users) < target:
        assert time.monotonic() < deadline, f"users served {_served(users)} of {target}: {users.failures}"
        time.sleep(0.05)


def _move_to(workspace: Workspace, day: date, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's calendar (over its admin RPC) and genaiops (GENAIOPS_TODAY) both on `day`."""
    with grpc.insecure_channel(workspace.emulator.grpc_target) as channel:
        set_emulator_today(channel, day)
        assert emulator_today(channel) == day
    monkeypatch.setenv("GENAIOPS_TODAY", day.isoformat())


@pytest.mark.slow
def test_a_model_crossing_its_last_day_warns_then_fails_and_outdated_write_with_the_canary_loses_no_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with prompt_workspace(tmp_path) as workspace:
        _move_to(workspace, BEFORE, monkeypatch)
        write(workspace, TEMPLATE, model=OLD, steps=STEPS)
        old_manifests = (workspace.manifests / "prompts.yaml").read_text(encoding="utf-8")
        first = workspace.apply()
        assert first.exit_code == 0, first.output
        stable = label(workspace)

        warned = _offline("validate", str(workspace.manifests))
        assert warned.exit_code == 0, warned.output
        assert "warning: gemini-2.0-flash is retiring in 16 days (last day 2026-02-05)" in warned.output
        assert "move to gemini-2.5-flash" in warned.output

        with Users(workspace) as users:
            _wait_for_more(users, 20)
            outdated = _offline("models", "outdated", str(workspace.manifests), "--write")
            assert outdated.exit_code == 2, outdated.output  # something was outdated (and is now written)
            assert "gemini-2.0-flash -> gemini-2.5-flash" in outdated.output
            written = (workspace.manifests / "prompts.yaml").read_text(encoding="utf-8")
            assert written == old_manifests.replace(OLD, NEW)

            promoted = workspace.apply("--wait")
            assert promoted.exit_code == 0, promoted.output
            candidate = label(workspace)
            assert candidate != stable and record(workspace) is None
            _wait_for_more(users, 20)
        assert not users.failures, users.failures  # no request failed, before, during or after the canary
        assert users.served[str(stable)] > 0 and users.served[str(candidate)] > 0, users.served

        again = _offline("models", "outdated", str(workspace.manifests))
        assert again.exit_code == 0, again.output

        _move_to(workspace, AFTER, monkeypatch)
        old_root = tmp_path / "old"
        old_root.mkdir()
        (old_root / "prompts.yaml").write_text(old_manifests, encoding="utf-8")
        refused = _offline("validate", str(old_root))
        assert refused.exit_code == 1, refused.output
        assert "spec.publisher: gemini-2.0-flash retired on 2026-02-05; move to gemini-2.5-flash" in refused.output
        assert f"{old_root / 'prompts.yaml'}:" in refused.output
        assert _offline("validate", str(workspace.manifests)).exit_code == 0

        with Users(workspace, threads=1) as after:
            _wait_for_more(after, 5)
            try:
                after.client.generate("greet", {"customer": "ada"}, label=LABEL, routing_key="ada")
            except ModelCallError as err:  # pragma: no cover - the assertion below explains
                pytest.fail(f"the promoted prompt failed after the old model retired: {err}")
            old_call = _call_old_model(workspace)
        assert not after.failures, after.failures
    assert "gemini-2.0-flash retired on 2026-02-05" in old_call and "move to gemini-2.5-flash" in old_call


def _call_old_model(workspace: Workspace) -> str:
    """The runtime's error for a call to the retired model (the stable version's model), through the same
    model adapters the runtime client calls prompts with."""
    emulator = workspace.emulator
    models = vertex_models(
        project=PROJECT, location="us-central1", grpc_target=emulator.grpc_target, genai_base_url=emulator.rest_endpoint
    )
    with pytest.raises(ModelRetiredError) as retired:
        models.model_for(OLD).generate(ModelRequest(model=OLD, text="hi"))
    assert retired.value.successor == "gemini-2.5-flash"
    return str(retired.value)
