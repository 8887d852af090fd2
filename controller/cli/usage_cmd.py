"""`genaiops usage` and `genaiops feedback report`: what applications did with their prompts, read back
from where the runtime client wrote it.

`usage` opens a target like every other command (`--emulator`, `--project`, local by default), reads the
runtime's custom metrics over `--since` (controller/providers/metric_reader.py) and prints requests, tokens,
cost, p50/p99 latency, error rate, cache hit rate, safety blocks and feedback per `--by` group.
`feedback report` reads the feedback store (Firestore in `--project`, else the local SQLite file, as the
runtime client chooses) and prints the average rating and counts per prompt version. Both exit 0 (an
empty report is not an error) or 1 on an error.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from controller.cli.apply_cmd import fail
from controller.cli.console import make_console, unclipped
from controller.cli.options import EXIT_OK, current_region, target_options, target_spec
from controller.cli.target import open_target
from controller.errors import GenaiopsError
from controller.runtime.usage import GROUPINGS, feedback_rows, usage_rows
from controller.views.usage_table import feedback_json, feedback_table, usage_json, usage_table

_SINCE = re.compile(r"(\d+)([dhms])")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_SINCE_S = 400 * 86400


class Since(click.ParamType[float]):
    """A look-back such as 24h, 7d, 90m or 1d12h (seconds as a float)."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float | int):
            return float(value)
        text = str(value).strip().lower()
        parts = _SINCE.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            self.fail(f"expected a duration such as 24h, 7d or 90m (got {value!r})", param, ctx)
        seconds = float(sum(int(n) * _UNIT_S[u] for n, u in parts))
        if not 60 <= seconds <= MAX_SINCE_S:
            self.fail(f"must be between 1m and 400d (got {value!r})", param, ctx)
        return seconds


output_option = click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)


@click.command("usage")
@target_options
@click.option("--since", type=Since(), default="24h", show_default=True, help="How far back to look.")
@click.option("--by", type=click.Choice(list(GROUPINGS)), default="prompt", show_default=True, help="Group rows by.")
@output_option
def usage_cmd(since: float, by: str, output: str, **flags: Any) -> None:
    """Requests, tokens, cost, latency, error and cache-hit rates, safety blocks and feedback of the
    applications using the genaiops runtime client, per prompt, version, label or model."""
    from controller.providers.metric_reader import CloudMonitoringUsage

    end = time.time()
    start = end - since
    try:
        spec = target_spec(**flags)
        with open_target(spec, [current_region()]) as target:
            reader = CloudMonitoringUsage(
                project=target.project, channel=target.channel, min_alignment_s=60 if spec.kind == "cloud" else 1
            )
            totals = reader.read_totals(start=start, end=end)
            name = target.name
    except GenaiopsError as err:
        fail(str(err))
        return
    rows, total = usage_rows(totals, by=by)
    if output == "json":
        click.echo(usage_json(rows, total, by=by, start=start, end=end, target=name))
        sys.exit(EXIT_OK)
    console = make_console()
    console.print(f"Target: {name}; since {_ago(since)}", highlight=False)
    if not rows:
        console.print("No requests recorded by the genaiops runtime client in this window.", highlight=False)
    else:
        console.print(unclipped(usage_table(rows, total, by=by)))
    sys.exit(EXIT_OK)


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


@click.group("feedback")
def feedback_group() -> None:
    """User feedback recorded by applications through the runtime client."""


@feedback_group.command("report")
@click.option("--prompt", help="Only this prompt.")
@click.option("--since", type=Since(), default="7d", show_default=True, help="How far back to look.")
@click.option(
    "--project", envvar="GOOGLE_CLOUD_PROJECT", help="Read Firestore in this project (default: the local file)."
)
@click.option(
    "--feedback-db",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="GENAIOPS_FEEDBACK_DB",
    help="The local SQLite feedback file (default .genaiops/feedback.sqlite; wins over --project).",
)
@click.option("--collection", default="genaiops-feedback", show_default=True, help="Firestore collection.")
@output_option
def feedback_report_cmd(
    prompt: str | None, since: float, project: str | None, feedback_db: Path | None, collection: str, output: str
) -> None:
    """Average rating and rating counts per prompt version."""
    from controller.providers.runtime_stores import open_feedback_store
    from controller.runtime.feedback import DEFAULT_SQLITE_PATH

    start = time.time() - since
    if feedback_db is not None or not project:
        where = str(feedback_db or DEFAULT_SQLITE_PATH)
    else:
        where = f"Firestore {project}/{collection}"
    try:
        store = open_feedback_store(project=project, path=feedback_db, collection=collection)
        items = store.query(prompt=prompt, since=start)
    except GenaiopsError as err:
        fail(str(err))
        return
    rows = feedback_rows(items)
    if output == "json":
        click.echo(feedback_json(rows, since=start, prompt=prompt, store=where))
        sys.exit(EXIT_OK)
    console = make_console()
    console.print(f"Feedback from {where}; since {_ago(since)}", highlight=False, markup=False)
    if not rows:
        console.print("No feedback in this window.", highlight=False)
    else:
        console.print(unclipped(feedback_table(rows)))
    sys.exit(EXIT_OK)
