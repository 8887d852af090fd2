"""Planning open Model Garden models (a `Model` with `publisher: publishers/meta/models/...` and `deploy`):
which deploy action (`OpenModelSource`, observed at plan time through GetPublisherModel) each one is
registered from, the diagnostics when it cannot be (unknown model, no deploy action, licence not
accepted), the endpoint deployments that therefore cannot be planned either, and notes a reviewer should
read (an unpinned publisher version; machines other than the ones Model Garden deploys the model on).

Pure. The planner (`planner.py`) uploads each resolvable open model like an `upload` Model, from its deploy
action's container and artifact with the manifest's env (see `views_of.container_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controller.diagnostics import Diagnostic, Source
from controller.model import Endpoint, Model
from controller.observed import Observed, OpenModelSource, address


@dataclass(frozen=True)
class OpenModels:
    """The deploy action of every open Model that can be planned, and why the others cannot."""

    sources: Mapping[str, OpenModelSource] = field(default_factory=dict)  # Model name -> its deploy action
    broken: frozenset[str] = frozenset()  # open Models that cannot be planned
    diagnostics: tuple[Diagnostic, ...] = ()
    notes: tuple[str, ...] = ()


def _problem(model: Model, source: OpenModelSource | None, looked_up: bool) -> tuple[str, str, str] | None:
    """(summary, field path, detail) of why `model` cannot be registered from `source`, or None."""
    spec = model.spec
    assert spec.publisher is not None and spec.deploy is not None
    if not looked_up:
        return (
            f"{spec.publisher} was not looked up in Model Garden (this target has no Model Garden client)",
            "spec.publisher",
            "",
        )
    if source is None:
        return (
            f"Model Garden has no model {spec.publisher} (GetPublisherModel answered NOT_FOUND)",
            "spec.publisher",
            "copy the name from the model card: publishers/PUBLISHER/models/MODEL@VERSION",
        )
    if source.container is None:
        return (
            f"{source.reference} has no deploy action in Model Garden: Google serves it, it cannot be deployed "
            "to your endpoints",
            "spec.deploy",
            "drop `deploy` to use it as a publisher model (Prompts call it directly)",
        )
    if source.eula_required and not spec.deploy.accept_eula:
        return (
            f"{source.reference} is offered under a licence that must be accepted before it is deployed",
            "spec.deploy.acceptEula",
            "read the licence on the model card in Model Garden, then set `deploy: {acceptEula: true}`",
        )
    return None


def resolve_open_models(
    models: Iterable[Model], observed: Observed, sources: Mapping[str, Source] | None = None
) -> OpenModels:
    """The deploy action of each open Model among `models` (as observed), or a diagnostic saying why none."""
    found: dict[str, OpenModelSource] = {}
    broken: set[str] = set()
    diagnostics: list[Diagnostic] = []
    notes: list[str] = []
    for model in models:
        spec = model.spec
        if not spec.is_open_model or spec.publisher is None:
            continue
        key = (spec.region, spec.publisher)
        source = observed.open_models.get(key)
        problem = _problem(model, source, key in observed.open_models)
        name = model.metadata.name
        if problem is not None or source is None:
            summary, path, detail = problem or ("", "", "")
            where = (sources or {}).get(f"Model/{name}", Source("<manifests>"))
            diagnostics.append(Diagnostic(summary, where, path, detail=detail))
            broken.add(name)
            continue
        found[name] = source
        if "@" not in spec.publisher:
            notes.append(
                f"{address('Model', spec.region, name)}: {spec.publisher} is Model Garden's default version "
                f"{source.version_id}; pin it ({spec.publisher}@{source.version_id}) so that a new default "
                "is not rolled out unreviewed"
            )
    return OpenModels(found, frozenset(broken), tuple(diagnostics), tuple(notes))


def unplannable_deployments(endpoint: Endpoint, broken: frozenset[str]) -> list[str]:
    """Problems of `endpoint`'s deployments that serve an open Model which cannot be planned."""
    return [
        f"deployment {d.name!r}: open Model {d.model_name!r} cannot be registered (see its diagnostic)"
        for d in endpoint.spec.deployments
        if d.model_name in broken
    ]


def machine_notes(endpoint: Endpoint, opened: Mapping[str, OpenModelSource]) -> list[str]:
    """Notes for deployments of an open model on machines other than Model Garden's own for it."""
    notes: list[str] = []
    for d in endpoint.spec.deployments:
        source = opened.get(d.model_name)
        if source is None or not source.machine_type:
            continue
        asked = (
            d.machine_type,
            d.accelerator.type if d.accelerator else "",
            d.accelerator.count if d.accelerator else 0,
        )
        default = (source.machine_type, source.accelerator_type, source.accelerator_count)
        if asked != default:
            notes.append(
                f"{address('Endpoint', endpoint.spec.region, endpoint.metadata.name)}: deployment {d.name} serves "
                f"{source.reference} on {_machines(*asked)}; Model Garden deploys it on {_machines(*default)}"
            )
    return notes


def _machines(machine_type: str, accelerator: str, count: int) -> str:
    return f"{machine_type} with {count} {accelerator}" if accelerator else f"{machine_type} without accelerators"
