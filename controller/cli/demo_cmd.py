"""`genaiops demo`: the whole story on the local emulator, through the same commands a user runs.

Validate the example manifests; apply them; bump the support model to a healthy version and watch the
canary promote step by step; bump it to a broken version (an emulator model with a high error rate) and
watch the automatic rollback; then print the timeline from the audit log. Last, an application
(manifests/apps/support_app.py, `demo_runtime.py`) calls the published prompts 200 times through the runtime
client and `genaiops usage` / `genaiops feedback report` show what it recorded. About 30-45 seconds.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import click
from rich.console import Console

from controller.cli.console import make_console, rule, unclipped
from controller.cli.demo_runtime import EMULATED_GEMINI, canary_part, runtime_part
from controller.cli.demo_tuning import tuning_part
from controller.cli.options import EXIT_ERROR
from controller.loader import load
from controller.views.diagnostics import human_lines
from controller.views.summary import summary_table

HEALTHY = "gs://emulator-models/support-llm/v2?latency_ms=90&latency_jitter_ms=20"
BROKEN = "gs://emulator-models/support-llm/v3?error_rate=0.35&latency_ms=85"
ORIGINAL = "gs://emulator-models/support-llm/v1?latency_ms=80&latency_jitter_ms=20"
TUNING_S = 2.0  # how long an emulated tuning job runs


def _run(console: Console, args: list[str]) -> int:
    """Run one genaiops command in-process, as the console script would; returns its exit code."""
    from controller.cli.main import cli

    console.print(f"$ genaiops {' '.join(args)}", style="bold", markup=False, highlight=False)
    try:
        cli.main(args=args, prog_name="genaiops", standalone_mode=False)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def _bump(models: Path, old: str, new: str) -> None:
    text = models.read_text(encoding="utf-8")
    if old not in text:
        raise click.ClickException(f"the demo expects {old} in {models}")
    models.write_text(text.replace(old, new), encoding="utf-8")


def _timeline(console: Console, audit: Path) -> None:
    events = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    rollout = [e for e in events if str(e.get("event", "")).startswith("rollout-") and e["event"] != "rollout-measured"]
    if not rollout:
        return
    start = rollout[0]["at"]
    console.print(rule("Timeline (from the audit log)"))
    for event in rollout:
        kind = event["event"].removeprefix("rollout-")
        weight = f" weight {event['weight']}%" if event.get("weight") is not None else ""
        detail = f" | {event['detail']}" if event.get("detail") else ""
        who = (
            f"prompt/{event['prompt']}[{event['label']}]"
            if "prompt" in event
            else f"{event['endpoint']}/{event['deployment']}"
        )
        console.print(
            f"+{event['at'] - start:5.1f}s {who} {kind}{weight}{detail}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@click.command("demo")
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("manifests"))
@click.option("--traffic", type=click.FloatRange(1), default=40.0, show_default=True, help="Synthetic requests/s.")
@click.option("--validate-only", is_flag=True, help="Only validate PATH and summarise what it declares.")
def demo_cmd(path: Path, traffic: float, validate_only: bool) -> None:
    """Run the story on an embedded emulator: apply, a canary that promotes, a canary that rolls back."""
    console = make_console()
    result = load(path)
    for line in human_lines(result.diagnostics, files=result.files):
        console.print(line, markup=False, highlight=False)
    if not result.ok:
        sys.exit(EXIT_ERROR)
    console.print(unclipped(summary_table(result)))
    if validate_only:
        return
    from controller.emulator.server import running

    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="genaiops-demo-") as tmp,
        running(
            traffic_rps=traffic,
            traffic_tick_s=0.25,
            min_alignment_period_s=1,
            min_point_spacing_s=0.5,
            gemini_models=EMULATED_GEMINI,
            tuning_duration_s=TUNING_S,
        ) as emulator,
    ):
        work = Path(tmp) / "manifests"
        shutil.copytree(path, work)
        audit = Path(tmp) / "audit.log"
        store = str(Path(tmp) / "prompt-store")
        common = ["--emulator", emulator.grpc_target, "--audit-log", str(audit), "--prompt-store", store]
        console.print(f"\nLocal emulator at {emulator.grpc_target} with {traffic:g} synthetic requests/s per endpoint.")
        console.print(rule("1. Apply the manifests to an empty project"))
        if _run(console, ["apply", str(work), "--auto-approve", *common]) != 0:
            sys.exit(EXIT_ERROR)
        console.print(rule("2. A healthy new version of support-llm: the canary promotes step by step"))
        _bump(work / "models.yaml", ORIGINAL, HEALTHY)
        if _run(console, ["apply", str(work), "--auto-approve", "--wait", *common]) != 0:
            sys.exit(EXIT_ERROR)
        console.print(rule("3. A broken version (35% errors): the canary is rolled back automatically"))
        _bump(work / "models.yaml", HEALTHY, BROKEN)
        rolled_back = _run(console, ["apply", str(work), "--auto-approve", "--wait", *common]) == 1
        console.print(rule("4. The next plan does not retry the failed revision"))
        _run(console, ["plan", str(work), "--emulator", emulator.grpc_target, "--prompt-store", store])
        app_ran = runtime_part(console, step=5, manifests=work, emulator=emulator, store=store, tmp=Path(tmp), run=_run)
        tuned = partial(tuning_part, console, step=8, manifests=work, common=common, run=_run, tuning_s=TUNING_S + 1)
        canaries = canary_part(
            console,
            step=6,
            manifests=work,
            emulator=emulator,
            store=store,
            tmp=Path(tmp),
            common=common,
            run=_run,
            then=tuned,
        )
        _timeline(console, audit)
    elapsed = time.monotonic() - started
    if not rolled_back:
        console.print("The broken canary was not rolled back: the demo failed.", style="bold red")
        sys.exit(EXIT_ERROR)
    if not app_ran:
        console.print("The application part failed: the demo failed.", style="bold red")
        sys.exit(EXIT_ERROR)
    if not canaries:
        console.print(
            "The prompt canaries did not promote and roll back as expected: the demo failed.", style="bold red"
        )
        sys.exit(EXIT_ERROR)
    console.print(
        f"\nDemo complete in {elapsed:.0f}s: on the endpoint and on the prompt, one canary promoted, one rolled back.",
        style="bold green",
    )
