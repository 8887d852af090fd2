"""A readable summary of what a set of manifests declares (the first step of the demo)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from controller.loader import LoadResult
from controller.model import (
    Alert,
    Budget,
    Dataset,
    Endpoint,
    Environment,
    Model,
    ModelLifecycle,
    NotificationChannel,
    PriceBook,
    Prompt,
    TuningJob,
)
from controller.model.endpoint import Rollout


def _rollout(rollout: Rollout) -> str:
    if rollout.strategy == "direct":
        return "direct"
    if rollout.experiment is not None:
        weight = f" at {rollout.experiment.weight}%" if rollout.experiment.weight is not None else ""
        return f"experiment{weight} for {rollout.experiment.duration}"
    if rollout.steps:
        weights = " → ".join(f"{s.weight}%" for s in rollout.steps)
        return f"canary {weights}"
    return f"canary +{rollout.step_weight}% to {rollout.max_weight or 100}%"


def _budget(budget: Budget) -> str:
    limits = budget.spec.limits
    parts = [
        f"{name} ${amount:,.2f}{unit}"
        for name, amount, unit in (
            ("serving", limits.serving, "/month"),
            ("tuning", limits.tuning, "/month"),
            ("prompts", None if limits.per_request is None else limits.per_request * 1000, " per 1,000 requests"),
        )
        if amount is not None
    ]
    override = budget.spec.override
    until = f"; override until {override.until.isoformat()}" if override is not None else ""
    return "limits " + ", ".join(parts) + until


def summary_table(result: LoadResult) -> Table:
    """One row per manifest: kind, name, and the essentials of what it declares."""
    table = Table(title=f"{len(result.manifests)} manifests in {result.files} files", title_justify="left")
    table.add_column("kind", style="cyan")
    table.add_column("name", style="bold")
    table.add_column("declares")
    for item in result.manifests:
        manifest = item.manifest
        if isinstance(manifest, Model):
            spec = manifest.spec
            what = f"publisher {spec.publisher}" if spec.upload is None else f"upload {spec.upload.artifact_uri}"
        elif isinstance(manifest, Endpoint):
            traffic = ", ".join(f"{k} {v}%" for k, v in manifest.spec.traffic.items())
            deployments = ", ".join(f"{d.name}={d.model}" for d in manifest.spec.deployments)
            what = f"{deployments}; traffic {traffic}; {_rollout(manifest.spec.rollout)}"
        elif isinstance(manifest, Prompt):
            spec_p = manifest.spec
            what = f"model {spec_p.model}; {len(spec_p.variables)} variables; {len(spec_p.tests)} tests"
            if spec_p.rollout.strategy != "direct":
                what += f"; {_rollout(spec_p.rollout)}"
        elif isinstance(manifest, Dataset):
            what = f"{manifest.spec.format} data from {manifest.spec.source}"
        elif isinstance(manifest, TuningJob):
            job = manifest.spec
            gate = "gated by an evaluation" if job.evaluation is not None else "no evaluation gate"
            what = f"tune {job.base_model} on {job.training_dataset}; {gate}"
        elif isinstance(manifest, Budget):
            what = _budget(manifest)
        elif isinstance(manifest, PriceBook):
            dates = sorted({row.as_of.isoformat() for row in manifest.spec.prices})
            what = f"{len(manifest.spec.prices)} prices overriding the bundled table (as of {', '.join(dates)})"
        elif isinstance(manifest, Alert):
            alert = manifest.spec
            watched = alert.metric or "a custom query"
            condition = "stops reporting" if alert.absent else f"{alert.comparison} {alert.threshold}"
            what = f"alert when {watched} {condition} for {alert.for_} ({alert.severity})"
        elif isinstance(manifest, NotificationChannel):
            what = f"{manifest.spec.type} notification channel"
        elif isinstance(manifest, Environment):
            env = manifest.spec
            where = ", ".join(x for x in (env.project, env.region) if x) or "the flags' target"
            what = f"environment on {where}; {len(env.patches)} patch(es) over the base"
        elif isinstance(manifest, ModelLifecycle):
            ids = ", ".join(row.model for row in manifest.spec.models)
            what = f"lifecycle of {ids} (read by validate, plan and `models outdated`; never applied)"
        else:
            source = manifest.spec.template or manifest.spec.function
            what = f"Vertex AI Pipelines run of {source}" + (
                f" on {manifest.spec.schedule}" if manifest.spec.schedule else ""
            )
        table.add_row(manifest.kind, manifest.metadata.name, what)
    return table


def print_summary(result: LoadResult, console: Console) -> None:
    """Print the table."""
    console.print(summary_table(result))
