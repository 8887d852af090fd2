"""Adoption for `genaiops import`: the check that decides what may be handed to genaiops, and the label
updates that hand it over (importer.py runs them; its docstring lists the kill points).

The check plans the manifests import wrote (under --out) with the planner `plan` uses, against the live
resources as if genaiops owned them (a copy with the managed-by label added): a resource is adoptable
only when its change is a no-op, and an endpoint only when the models it deploys are adoptable too.
Adopting writes one labels-only update per resource, models before endpoints, an endpoint's guarded by
the etag it was read and checked with.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from controller.engine.import_prompts import StoredPrompt
from controller.engine.planning import sources
from controller.engine.retry import DEFAULT_RETRY, RetryPolicy
from controller.errors import ConflictError, GenaiopsError
from controller.loader import LoadResult
from controller.loader.checks import Located
from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE, Endpoint, Model
from controller.observed import Observed, ObservedEndpoint, ObservedModel, address
from controller.plans.plan import Action, ResourceChange
from controller.plans.planner import plan as make_plan
from controller.ports import InventoryPort
from controller.prompts.prompt_plan import plan_prompts
from controller.prompts.source import sources_of
from controller.prompts.store import PromptStore


@dataclass(frozen=True)
class Inventory:
    """What the target holds: every endpoint and model of the regions read, and the stored prompts no
    manifest declares (with the version import would describe)."""

    endpoints: tuple[ObservedEndpoint, ...] = ()
    models: tuple[ObservedModel, ...] = ()
    prompts: tuple[StoredPrompt, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """Whether an imported resource may be adopted: its manifest plans to no changes (else why not)."""

    address: str
    adoptable: bool
    why: str = ""


def inside(file: str, directory: Path) -> bool:
    try:
        Path(file).resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def _owned(labels: Mapping[str, str]) -> dict[str, str]:
    return {**labels, MANAGED_BY_LABEL: MANAGED_BY_VALUE}


def _change_text(change: ResourceChange) -> str:
    """The field changes of a planned change (then its reasons), briefly."""
    fields = [f"{c.path}: {c.before!r} -> {c.after!r}" for c in change.changes[:4]]
    more = f" (and {len(change.changes) - 4} more)" if len(change.changes) > 4 else ""
    what = "; ".join(fields) + more if fields else "; ".join(change.reasons) or change.action.value
    return f"its manifest plans a change ({change.action.value}): {what}"


def _candidates(result: LoadResult, inventory: Inventory, out: Path) -> tuple[Observed, dict[str, Located]]:
    """The live state as the planner would see it with every imported, unmanaged resource owned, and the
    manifests of those resources (address -> manifest). Resources another tool labels are never owned."""
    items = {
        address(i.manifest.kind, i.manifest.spec.region, i.manifest.metadata.name): i
        for i in result.manifests
        if isinstance(i.manifest, Endpoint | Model)
    }
    wanted: dict[str, Located] = {}

    def owned_as(kind: str, region: str, name: str, labels: Mapping[str, str]) -> bool:
        where = address(kind, region, name)
        item = items.get(where)
        if MANAGED_BY_LABEL in labels or item is None or not inside(item.file, out):
            return False
        wanted[where] = item
        return True

    endpoints = {
        (e.region, e.endpoint_id): replace(e, labels=_owned(e.labels)) if taken else e
        for e in inventory.endpoints
        if (taken := owned_as("Endpoint", e.region, e.endpoint_id, e.labels)) or e.managed
    }
    models = {
        (m.region, m.model_id): replace(m, labels=_owned(m.labels)) if taken else m
        for m in inventory.models
        if (taken := owned_as("Model", m.region, m.model_id, m.labels)) or m.managed
    }
    return Observed(endpoints=endpoints, models=models), wanted


def adoption_verdicts(result: LoadResult, inventory: Inventory, *, out: Path) -> tuple[Verdict, ...]:
    """Plan the manifests under `out` of every unmanaged resource against it, as if owned: adoptable when
    the change is a no-op. An endpoint is adoptable only when the models it deploys are (or are managed)."""
    observed, wanted = _candidates(result, inventory, out)
    if not wanted:
        return ()
    manifests = [i.manifest for i in wanted.values()]
    deployed = {d.model_name for m in manifests if isinstance(m, Endpoint) for d in m.spec.deployments}
    models = [
        i.manifest
        for i in result.manifests
        if isinstance(i.manifest, Model)
        and i.manifest.metadata.name in deployed
        and address("Model", i.manifest.spec.region, i.manifest.metadata.name) not in wanted
    ]
    planned = make_plan([*manifests, *models], observed, sources=sources(result))
    changes = {c.address: c for c in planned.changes}
    verdicts: dict[str, Verdict] = {}
    for where in sorted(wanted, key=lambda a: (not a.startswith("Model/"), a)):
        change = changes.get(where)
        if change is None:
            found = [d.summary for d in planned.diagnostics if d.source.file == wanted[where].file]
            verdicts[where] = Verdict(where, False, "not planned: " + ("; ".join(found[:2]) or "see `genaiops plan`"))
        elif change.action is not Action.NOOP:
            verdicts[where] = Verdict(where, False, _change_text(change))
        else:
            verdicts[where] = Verdict(where, True)
    for where, item in wanted.items():
        manifest = item.manifest
        if not isinstance(manifest, Endpoint) or not verdicts[where].adoptable:
            continue
        blocked = sorted(
            d.model_name
            for d in manifest.spec.deployments
            if not verdicts.get(address("Model", manifest.spec.region, d.model_name), Verdict("", True)).adoptable
        )
        if blocked:
            verdicts[where] = Verdict(where, False, f"it deploys model {', '.join(blocked)}, which is not adopted")
    return tuple(verdicts.values())


def prompt_verdicts(result: LoadResult, names: Collection[str], store: PromptStore) -> tuple[Verdict, ...]:
    """Plan the imported prompts `names` against the store: each must come out a no-op (the store already
    has the version its manifest describes, and its labels point there)."""
    if not names:
        return ()
    chosen = [s for s in sources_of(result.manifests) if s.name in names]
    verdicts = []
    for change in plan_prompts(chosen, store):
        ok = change.action is Action.NOOP
        verdicts.append(Verdict(change.address, ok, "" if ok else _change_text(change)))
    return tuple(verdicts)


# -- adopting -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adoption:
    """One adoption: the resource now carries managed-by: genaiops, or why it does not."""

    address: str
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the label was written."""
        return not self.error


def adopt(
    ports: Mapping[str, InventoryPort],
    inventory: Inventory,
    verdicts: Sequence[Verdict],
    *,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> tuple[Adoption, ...]:
    """Add managed-by: genaiops to every adoptable resource, one labels-only update each (the labels it
    was read with + the ownership label), models first; an endpoint's update carries the etag it was read
    and checked with, so one changed since is not taken over on the strength of an outdated check."""
    adoptable = {v.address for v in verdicts if v.adoptable}
    done: list[Adoption] = []
    failed_models: set[tuple[str, str]] = set()
    for model in sorted(inventory.models, key=lambda m: (m.region, m.model_id)):
        where = address("Model", model.region, model.model_id)
        if where not in adoptable or model.managed:
            continue
        port, labels = ports[model.region], _owned(model.labels)
        try:
            retry.call(lambda: port.adopt_model(model_id=model.model_id, labels=labels))  # noqa: B023 (called at once)
            done.append(Adoption(where))
        except GenaiopsError as err:
            failed_models.add((model.region, model.model_id))
            done.append(Adoption(where, str(err)))
    for endpoint in sorted(inventory.endpoints, key=lambda e: (e.region, e.endpoint_id)):
        where = address("Endpoint", endpoint.region, endpoint.endpoint_id)
        if where not in adoptable or endpoint.managed:
            continue
        blocked = sorted({d.spec.model_id for d in endpoint.deployed_models} & {m for _, m in failed_models})
        if blocked:
            done.append(Adoption(where, f"model {', '.join(blocked)} was not adopted"))
            continue
        done.append(_adopt_endpoint(ports[endpoint.region], endpoint, where, retry))
    return tuple(done)


def _adopt_endpoint(port: InventoryPort, endpoint: ObservedEndpoint, where: str, retry: RetryPolicy) -> Adoption:
    labels = _owned(endpoint.labels)
    try:
        retry.call(lambda: port.adopt_endpoint(endpoint_id=endpoint.endpoint_id, etag=endpoint.etag, labels=labels))
    except ConflictError:
        return Adoption(
            where, "it changed since it was read (etag): not adopted; run `genaiops import --adopt` again to check it"
        )
    except GenaiopsError as err:
        return Adoption(where, str(err))
    return Adoption(where)
