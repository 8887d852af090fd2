"""`genaiops experiment report NAME`: an A/B experiment's report, read-only, at any time.

For a Prompt (one of its labels): both versions measured from the experiment's start (its rollout record in
the prompt store) to now. For an Endpoint: each deployment with traffic measured over the last `--since`
(default: the experiment's duration). Every metric with each variant's value, the difference with its
confidence interval, the p-value and the verdict; the split check; the suggested winner; and what happens
next (for a prompt, the rollout driver acts on it when the duration is over).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from controller.cli.console import make_console
from controller.cli.options import EXIT_ERROR, load_or_exit, target_options, target_spec
from controller.cli.target import open_target
from controller.engine.experiments import endpoint_report, prompt_report
from controller.errors import GenaiopsError, NotFoundError, UserError
from controller.model import Endpoint, Prompt, check_duration, duration_seconds
from controller.model.suggest import did_you_mean
from controller.ports import MetricsPort, PromptMetricsPort, VertexPort
from controller.prompts.store import PromptStore
from controller.rollout.experiment import Decision, ExperimentReport
from controller.views.experiment_report import report_json, report_view


@click.group("experiment")
def experiment_group() -> None:
    """A/B experiments (`rollout: {strategy: experiment}`)."""


def _experiments(path: Path) -> tuple[list[Endpoint], list[Prompt]]:
    manifests = [i.manifest for i in load_or_exit(path).manifests]
    endpoints = [m for m in manifests if isinstance(m, Endpoint) and m.spec.rollout.strategy == "experiment"]
    prompts = [m for m in manifests if isinstance(m, Prompt) and m.spec.rollout.strategy == "experiment"]
    return endpoints, prompts


def _since(_ctx: click.Context, _param: click.Parameter, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return duration_seconds(check_duration(text, minimum_s=1))
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@experiment_group.command("report")
@click.argument("name")
@click.option("--label", help="For a prompt with several labels: whose experiment.")
@click.option("--since", callback=_since, help="Endpoints: the window measured (default: the experiment's duration).")
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
@click.option(
    "--manifests", "-f", "path", type=click.Path(path_type=Path), default=Path("manifests"), show_default=True
)
@target_options
def report_cmd(name: str, label: str | None, since: float | None, output: str, path: Path, **flags: object) -> None:
    """Each metric of experiment NAME (a Prompt or an Endpoint) per variant, with its interval, p-value and
    verdict, the suggested winner, and what happens next."""
    console = make_console()
    try:
        endpoints, prompts = _experiments(path)
        endpoint = next((e for e in endpoints if e.metadata.name == name), None)
        prompt = next((p for p in prompts if p.metadata.name == name), None)
        if endpoint is None and prompt is None:
            known = [e.metadata.name for e in endpoints] + [p.metadata.name for p in prompts]
            listed = ", ".join(sorted(known)) or "none"
            raise UserError(
                f"no experiment named {name!r} in {path} (experiments: {listed}){did_you_mean(name, known)}"
            )
        spec = target_spec(**flags)
        regions = {endpoint.spec.region} if endpoint is not None else set()
        with open_target(spec, regions) as opened:
            now = time.time()
            if endpoint is not None:
                report, decided, who = _endpoint(
                    opened.ports[endpoint.spec.region], opened.metrics, endpoint, now, since
                )
            else:
                assert prompt is not None
                report, decided, who = _prompt(opened.open_prompt_store(), opened.prompt_metrics, prompt, label, now)
    except GenaiopsError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(EXIT_ERROR)
    if output == "json":
        click.echo(report_json(report, decided, name=who))
    else:
        console.print(report_view(report, decided, name=who))


def _endpoint(
    port: VertexPort, metrics: MetricsPort, endpoint: Endpoint, now: float, since: float | None
) -> tuple[ExperimentReport, Decision, str]:
    live = port.get_endpoint(endpoint.metadata.name)
    if live is None:
        raise NotFoundError(f"endpoint {endpoint.metadata.name} does not exist yet: apply it first")
    settings = endpoint.spec.rollout.experiment
    assert settings is not None
    window = since if since is not None else duration_seconds(settings.duration)
    report, decided = endpoint_report(metrics, endpoint, live, start=now - window, end=now)
    return report, decided, endpoint.metadata.name


def _prompt(
    store: PromptStore, metrics: PromptMetricsPort | None, prompt: Prompt, label: str | None, now: float
) -> tuple[ExperimentReport, Decision, str]:
    index = store.read_index(prompt.metadata.name)
    recorded = sorted(index.rollouts) if index is not None else []
    chosen = label if label is not None else recorded[0] if len(recorded) == 1 else None
    if chosen is None:
        which = ", ".join(recorded) if recorded else "none"
        raise UserError(f"prompt {prompt.metadata.name!r} has experiments on: {which}; name one with --label")
    record = index.rollouts.get(chosen) if index is not None else None
    if record is None:
        raise NotFoundError(f"label {chosen!r} of prompt {prompt.metadata.name!r} runs no experiment")
    report, decided = prompt_report(metrics, prompt, record, now=now)
    return report, decided, f"prompt/{prompt.metadata.name}[{chosen}]"


__all__ = ["experiment_group"]
