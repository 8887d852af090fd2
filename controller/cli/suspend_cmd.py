"""`genaiops suspend NAME` / `genaiops resume NAME`: pause and resume reconciliation of one resource.

The mark is the `genaiops-suspended` label on the live resource (so every controller replica and every
`plan` sees it); `spec.suspend: true` in the manifest does the same from git.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controller.cli.options import EXIT_ERROR, load_or_exit, target_options, target_spec
from controller.cli.target import open_target
from controller.engine.retry import DEFAULT_RETRY
from controller.errors import GenaiopsError, NotFoundError, UserError
from controller.model import Endpoint, Model
from controller.observed import SUSPEND_LABEL


def _mark(name: str, path: Path, suspend: bool, flags: dict[str, object]) -> None:
    result = load_or_exit(path)
    found = [
        m.manifest
        for m in result.manifests
        if m.manifest.metadata.name == name and isinstance(m.manifest, Endpoint | Model)
    ]
    if not found:
        raise UserError(f"no Endpoint or Model named {name!r} in {path}")
    spec = target_spec(**flags)
    with open_target(spec, {m.spec.region for m in found}) as opened:
        for manifest in found:
            port = opened.ports[manifest.spec.region]
            if isinstance(manifest, Endpoint):
                live = DEFAULT_RETRY.call(lambda: port.get_endpoint(name))  # noqa: B023 (called at once)
                if live is None or not live.managed:
                    raise NotFoundError(f"endpoint {name} is not a managed live endpoint")
                labels = {k: v for k, v in live.labels.items() if k != SUSPEND_LABEL}
                if suspend:
                    labels[SUSPEND_LABEL] = "true"
                port.update_endpoint(
                    endpoint_id=name,
                    etag=live.etag,
                    traffic_split=dict(live.traffic_split),
                    labels=labels,
                    display_name=live.display_name,
                    description=live.description,
                )
            else:
                model = DEFAULT_RETRY.call(lambda: port.get_model(name))  # noqa: B023 (called at once)
                if model is None or not model.managed:
                    raise NotFoundError(f"model {name} is not a managed live model")
                labels = {k: v for k, v in model.labels.items() if k != SUSPEND_LABEL}
                if suspend:
                    labels[SUSPEND_LABEL] = "true"
                port.update_model(
                    model_id=name, display_name=model.display_name, description=model.description, labels=labels
                )
            verb = "suspended: plan, apply and reconcile leave it alone" if suspend else "resumed"
            click.echo(f"{manifest.kind}/{manifest.spec.region}/{name} {verb}.")


def _command(suspend: bool) -> click.Command:
    @click.argument("name")
    @click.option("--manifests", "-f", "path", type=click.Path(path_type=Path), default=Path("manifests"))
    @target_options
    def command(name: str, path: Path, **flags: object) -> None:
        try:
            _mark(name, path, suspend, flags)
        except GenaiopsError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(EXIT_ERROR)

    text = (
        "Pause reconciliation of the Endpoint or Model NAME (a label on the live resource)."
        if suspend
        else "Resume reconciliation of NAME after `genaiops suspend`."
    )
    return click.command("suspend" if suspend else "resume", help=text)(command)


suspend_cmd = _command(True)
resume_cmd = _command(False)
