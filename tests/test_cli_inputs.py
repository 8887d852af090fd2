"""Every path and file the CLI takes is checked: a bad one is a clear message and exit 1, before any target
is opened or lock taken, never a traceback (issue 10). Also: `reconcile --interval` bounds, and `--prune`
never acting on a load with problems."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from controller.cli.main import cli
from controller.cli.reconcile_cmd import interval_seconds
from controller.engine.audit import AuditLog
from controller.errors import UserError
from controller.loader import load
from tests.helpers import MANIFESTS, ROOT


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def _refused(result: Result, *fragments: str) -> None:
    """Exit 1 through sys.exit with every fragment in the output, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture
def no_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a command gets as far as opening its target (and so taking a lock)."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the target was opened: the path should have been refused before")

    for module in ("controller.cli.apply_cmd", "controller.cli.plan_cmds", "controller.cli.rollout_cmds"):
        monkeypatch.setattr(f"{module}.open_target", refuse)


# --- apply --audit-log ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_target")
def test_apply_refuses_an_audit_log_that_is_a_directory(tmp_path: Path) -> None:
    result = _invoke(["apply", str(MANIFESTS), "--auto-approve", "--audit-log", str(tmp_path)])
    _refused(result, "--audit-log", f"{tmp_path} is a directory; give the path of a file")


@pytest.mark.usefixtures("no_target")
def test_apply_refuses_an_audit_log_it_cannot_create_before_taking_the_lock(tmp_path: Path) -> None:
    result = _invoke(["apply", str(MANIFESTS), "--auto-approve", "--audit-log", "/proc/x/y"])
    _refused(result, "cannot write the audit log /proc/x/y: No such file or directory")


@pytest.mark.usefixtures("no_target")
def test_apply_refuses_an_audit_log_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    result = _invoke(["apply", str(MANIFESTS), "--audit-log", str(tmp_path / "file" / "audit.log")])
    _refused(result, f"{tmp_path / 'file'} is a regular file, not a directory")


def test_an_audit_log_that_cannot_be_created_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="cannot write the audit log"):
        AuditLog(tmp_path / "file" / "audit.log")
    with pytest.raises(UserError, match="it is a directory"):
        AuditLog(tmp_path)


# --- --state-dir -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_target")
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_plan_and_apply_refuse_a_state_dir_that_is_a_file(command: str, tmp_path: Path) -> None:
    state = tmp_path / "notadir.yaml"
    state.write_text("", encoding="utf-8")
    result = _invoke([command, str(MANIFESTS), "--state-dir", str(state)])
    _refused(result, "--state-dir", f"{state} is a regular file, not a directory")


@pytest.mark.usefixtures("no_target")
def test_a_state_dir_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    result = _invoke(["plan", str(MANIFESTS), "--state-dir", str(tmp_path / "file" / "state")])
    _refused(result, f"cannot create {tmp_path / 'file' / 'state'}: {tmp_path / 'file'} is a regular file")


# --- plan --out and apply PLANFILE ---------------------------------------------------------------------


@pytest.mark.usefixtures("no_target")
def test_plan_refuses_an_out_path_that_is_a_directory(tmp_path: Path) -> None:
    result = _invoke(["plan", str(MANIFESTS), "--out", str(tmp_path)])
    _refused(result, "--out", "is a directory; give the path of a file")


@pytest.mark.usefixtures("no_target")
def test_plan_refuses_an_out_path_that_is_a_device() -> None:
    _refused(_invoke(["plan", str(MANIFESTS), "--out", "/dev/null"]), "/dev/null is a character device")


@pytest.mark.usefixtures("no_target")
def test_apply_refuses_a_plan_file_of_200000_nested_brackets(tmp_path: Path) -> None:
    plan = tmp_path / "deep.plan"
    plan.write_text("[" * 200_000, encoding="utf-8")
    _refused(_invoke(["apply", str(plan)]), "nests deeper than 128 levels")


@pytest.mark.usefixtures("no_target")
def test_apply_refuses_a_fifo_as_its_source_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.plan"
    os.mkfifo(pipe)
    _refused(_invoke(["apply", str(pipe)]), "is a FIFO (named pipe), not a regular file")


# --- --prompt-store, prompts, schema, rollout -----------------------------------------------------------


@pytest.mark.usefixtures("no_target")
@pytest.mark.parametrize("command", [["plan", str(MANIFESTS)], ["prompts", "plan", str(MANIFESTS)]])
def test_a_prompt_store_that_is_a_file_is_refused(command: list[str], tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("", encoding="utf-8")
    _refused(_invoke([*command, "--prompt-store", str(store)]), f"{store} is a regular file, not a directory")


def test_prompts_test_refuses_a_junit_path_that_is_a_directory(tmp_path: Path) -> None:
    result = _invoke(["prompts", "test", str(MANIFESTS), "--junit-xml", str(tmp_path)])
    _refused(result, "--junit-xml", "is a directory")


def test_prompts_snapshot_refuses_a_device_as_its_output() -> None:
    _refused(_invoke(["prompts", "snapshot", "--out", "/dev/zero"]), "/dev/zero is a character device")


def test_prompts_render_refuses_a_fifo_as_the_vars_file(tmp_path: Path) -> None:
    pipe = tmp_path / "vars.yaml"
    os.mkfifo(pipe)
    result = _invoke(["prompts", "render", "support-answer", str(MANIFESTS), "--vars", str(pipe)])
    _refused(result, "--vars", "is a FIFO (named pipe), not a regular file")


def test_prompts_render_reports_a_vars_file_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "vars.yaml"
    bad.write_text("a: [unclosed\n", encoding="utf-8")
    result = _invoke(["prompts", "render", "support-answer", str(MANIFESTS), "--vars", str(bad)])
    _refused(result, f"{bad}: cannot read the variables")


def test_schema_refuses_an_out_path_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "schemas"
    file.write_text("", encoding="utf-8")
    _refused(_invoke(["schema", "--out", str(file)]), f"{file} is a regular file, not a directory")


@pytest.mark.usefixtures("no_target")
def test_rollout_commands_refuse_an_audit_log_that_is_a_directory(tmp_path: Path) -> None:
    result = _invoke(["rollout", "status", "-f", str(MANIFESTS), "--audit-log", str(tmp_path)])
    _refused(result, "--audit-log", "is a directory")


def test_path_errors_exit_1_through_the_console_entry_point(tmp_path: Path) -> None:
    """Through `main` (the console script), not only click's test runner: 2 is reserved for 'changes'."""
    run = subprocess.run(
        [sys.executable, "-m", "controller", "plan", str(MANIFESTS), "--state-dir", str(MANIFESTS / "models.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "is a regular file, not a directory" in run.stderr
    assert "Traceback" not in run.stderr


# --- reconcile --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("1m", 60.0), ("720h", 2_592_000.0)], ids=["1s", "1m", "30 days"]
)
def test_a_reconcile_interval_between_one_second_and_thirty_days_is_accepted(text: str, seconds: float) -> None:
    assert interval_seconds(text) == seconds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0s", "too short: at least 1s between passes"),
        ("999ms", "too short: at least 1s between passes"),
        ("99999999999999999999h", "too long: at most 720h (30 days)"),
        ("soon", "invalid duration"),
    ],
)
def test_a_reconcile_interval_out_of_bounds_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        interval_seconds(text)


def test_reconcile_watch_with_a_zero_interval_exits_1_instead_of_busy_looping(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "controller", "reconcile", str(MANIFESTS), "--watch", "--interval", "0s"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "--interval: '0s' is too short: at least 1s between passes" in run.stderr
    assert "Traceback" not in run.stderr


# --- --prune never acts on a partial load ------------------------------------------------------------------


@pytest.mark.usefixtures("no_target")
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_prune_plans_nothing_when_a_manifest_file_is_skipped(command: str, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "models.yaml").write_text((MANIFESTS / "models.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    os.mkfifo(manifests / "endpoints.yaml")  # what it declares is unknown: pruning would delete it
    extra = ["--auto-approve"] if command == "apply" else []
    result = _invoke([command, str(manifests), "--prune", *extra])
    _refused(result, "endpoints.yaml:1:1: not loaded: it is a FIFO")


def test_planning_refuses_a_load_with_errors_even_when_called_directly(tmp_path: Path) -> None:
    from controller.engine.planning import plan_load

    os.mkfifo(tmp_path / "endpoints.yaml")
    (tmp_path / "models.yaml").write_text((MANIFESTS / "models.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = load(tmp_path)
    assert result.manifests and not result.ok
    with pytest.raises(UserError, match="nothing pruned"):
        plan_load(None, result, prune=True)  # type: ignore[arg-type]  # refused before the target is used
