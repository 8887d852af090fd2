"""`genaiops cost`: what serving, tokens and tuning cost over a window, from live data.

Opens a target like `usage` (`--emulator`, `--project`, local by default), reads the replica-count gauge of
every deployed model, the runtime client's token counters and the tuning jobs genaiops started
(controller/providers/cost_reader.py), the machines of the live endpoints, and prices them with the bundled
price table, overridden by the PriceBooks of `-f/--manifests` when given (controller/cost/report.py). Prints
a table per `--by` group or a versioned JSON document. Exit 0 (an empty report is not an error), 1 on an error.
"""

from __future__ import annotations

import sys
import time
from functools import reduce
from pathlib import Path
from typing import Any

import click

from controller.cli.apply_cmd import fail
from controller.cli.console import make_console, unclipped
from controller.cli.options import EXIT_OK, current_region, load_or_exit, target_options, target_spec
from controller.cli.target import open_target
from controller.cli.usage_cmd import Since, output_option
from controller.cost.prices import PriceTable, bundled
from controller.cost.report import GROUPINGS, cost_report, serving_items, token_items, tuning_items
from controller.errors import GenaiopsError
from controller.model import PriceBook
from controller.views.cost_report import cost_json, cost_table, unpriced_lines


def _prices(manifests: Path | None) -> PriceTable:
    """The bundled table with the PriceBooks of `manifests` on top (in load order)."""
    if manifests is None:
        return bundled()
    books = (i.manifest for i in load_or_exit(manifests).manifests if isinstance(i.manifest, PriceBook))
    return reduce(lambda table, book: table.with_book(book), books, bundled())


@click.command("cost")
@target_options
@click.option("--since", type=Since(), default="30d", show_default=True, help="How far back to look.")
@click.option("--by", type=click.Choice(list(GROUPINGS)), default="endpoint", show_default=True, help="Group by.")
@click.option(
    "-f",
    "--manifests",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Manifests whose PriceBooks override the bundled prices.",
)
@output_option
def cost_cmd(since: float, by: str, manifests: Path | None, output: str, **flags: Any) -> None:
    """Serving (node-hours of deployed models), token and tuning cost over a window, per endpoint, prompt,
    model or prompt label; anything without a price is listed as unpriced, never counted as $0."""
    from controller.providers.cost_reader import CostReader, machines

    prices = _prices(manifests)
    end = time.time()
    start = end - since
    try:
        spec = target_spec(**flags, manifests=manifests)
        region = current_region()
        with open_target(spec, [region]) as target:
            reader = CostReader(
                project=target.project, channel=target.channel, min_alignment_s=60 if spec.kind == "cloud" else 1
            )
            replicas = reader.read_replicas(start=start, end=end)
            regions = sorted({region, *(u.region for u in replicas)})
            live = machines(e for r in regions for e in target.ports[r].list_endpoints())
            tokens = reader.read_tokens(start=start, end=end)
            jobs = reader.read_tuning(regions=regions)
            name = target.name
    except GenaiopsError as err:
        fail(str(err))
        return
    items = [
        *serving_items(replicas, live, prices),
        *token_items(tokens, prices),
        *tuning_items(jobs, prices, start=start, end=end),
    ]
    report = cost_report(items, by=by)
    if output == "json":
        click.echo(cost_json(report, start=start, end=end, target=name, prices=prices.describe()))
        sys.exit(EXIT_OK)
    console = make_console()
    console.print(f"Target: {name}; since {_ago(since)}", highlight=False)
    if not report.items:
        console.print("No serving, tokens or tuning recorded in this window.", highlight=False)
    else:
        console.print(unclipped(cost_table(report)))
        for line in unpriced_lines(report):
            console.print(line, highlight=False, markup=False)
    console.print(prices.describe(), highlight=False, markup=False)
    sys.exit(EXIT_OK)


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"
