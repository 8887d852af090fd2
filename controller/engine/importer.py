"""`genaiops import`: read what Vertex AI and the prompt store hold that no manifest declares, write
manifests for it, and (with `--adopt`) hand it to genaiops, but only what the written manifests plan to no
changes for.

    InventoryPort lists (every endpoint and model, no label filter) + the prompt store
      -> import_drafts.draft_imports (pure): drafts, and skips (declared, managed, cannot import: why)
      -> write_drafts: one YAML file per resource under --out (never over different content without force)
      -> load the manifests again -> adoption_verdicts: the planner (plans/planner.py, the one plan uses)
         plans the written manifests against the live resources as if genaiops owned them (a copy with
         the managed-by label added); every imported resource must come out no-op, anything else is
         refused with the plan's field changes as the reason
      -> adopt: one labels-only update per resource (its current labels + managed-by: genaiops), models
         before endpoints, an endpoint's guarded by the etag it was read and checked with

Only resources whose manifests lie under --out (written by import, now or in an earlier run) are adopted;
one declared elsewhere is the user's own and is never taken over by import. A resource that is managed
already is skipped, so nothing is adopted twice.

Kill points (a process can die between any two calls; the rerun of `genaiops import --adopt` converges):
- while writing files: each file is written whole (a temporary file renamed over it), models before the
  endpoints that deploy them and a prompt's template before its manifest, so what was written loads; the
  rerun finds those resources declared and writes the rest.
- after writing, before adopting: the rerun writes nothing (everything is declared), checks again and adopts.
- between two adoptions: the adopted resources are managed, so the rerun skips them and adopts the rest
  (models first, so an adopted endpoint's models are adopted already).
- after an adoption landed but before its reply: the rerun sees the resource managed and skips it; a
  retried UpdateEndpoint meets a changed etag and is reported as a conflict, and the rerun converges.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from controller.diagnostics import Diagnostic
from controller.engine.import_drafts import Drafting, declared_addresses, draft_imports
from controller.engine.import_prompts import StoredPrompt, chosen_version
from controller.engine.import_render import Draft
from controller.engine.planning import sources
from controller.engine.retry import DEFAULT_RETRY, RetryPolicy
from controller.errors import ConflictError, GenaiopsError, UserError
from controller.loader import LoadResult, discover, load
from controller.loader.checks import Located
from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE, Endpoint, Model, split_model_ref
from controller.observed import Observed, ObservedEndpoint, ObservedModel, address
from controller.plans.plan import Action, ResourceChange
from controller.plans.planner import plan as make_plan
from controller.ports import InventoryPort
from controller.prompts.prompt_plan import plan_prompts
from controller.prompts.source import sources_of
from controller.prompts.store import PromptStore


class ManifestLoadError(UserError):
    """The manifests under the root do not load: nothing is imported (or adopted) from a partial view."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic], files: int) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)
        self.files = files


@dataclass(frozen=True)
class Inventory:
    """What the target holds: every endpoint and model of the regions read, and the stored prompts no
    manifest declares (with the version import would describe)."""

    endpoints: tuple[ObservedEndpoint, ...] = ()
    models: tuple[ObservedModel, ...] = ()
    prompts: tuple[StoredPrompt, ...] = ()


def read_inventory(
    ports: Mapping[str, InventoryPort],
    *,
    store: PromptStore | None,
    declared_prompts: Collection[str] = (),
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Inventory:
    """List every endpoint and model of each region (transient errors retried), and read the prompts of
    the store that `declared_prompts` does not name (their index and the version import describes)."""
    endpoints: list[ObservedEndpoint] = []
    models: list[ObservedModel] = []
    for region in sorted(ports):
        port = ports[region]
        endpoints += retry.call(port.all_endpoints)
        models += retry.call(port.all_models)
    prompts: list[StoredPrompt] = []
    for name in store.list_prompts() if store is not None else ():
        if name in declared_prompts or store is None:
            continue
        index = store.read_index(name)
        chosen = chosen_version(index) if index is not None else None
        version = store.read_version(name, chosen) if index is not None and chosen is not None else None
        if index is not None and version is not None:
            prompts.append(StoredPrompt(index, version))
    return Inventory(tuple(endpoints), tuple(models), tuple(prompts))


# -- writing files ------------------------------------------------------------------------------------


class FileStatus(StrEnum):
    """What happened to a draft's files."""

    WRITTEN = "wrote"
    UNCHANGED = "unchanged"  # the file holds these bytes already
    REFUSED = "not written"  # a file there holds something else (and no --force), or a dependency was not written


@dataclass(frozen=True)
class Written:
    """The outcome for one draft: its manifest file, and why it was not written."""

    address: str
    path: Path
    status: FileStatus
    detail: str = ""


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` whole: a temporary file in the same directory, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return "\0unreadable"


def _models_named(draft: Draft) -> set[str]:
    """The Model names a draft refers to (it may be written only if their files are)."""
    spec = draft.document.get("spec")
    if not isinstance(spec, Mapping):
        return set()
    if draft.kind == "Endpoint":
        return {split_model_ref(str(d["model"]))[0] for d in spec.get("deployments", ())}
    model = str(spec.get("model", "")) if draft.kind == "Prompt" else ""
    return {model.split("@", 1)[0]} if model and not model.startswith("publishers/") else set()


def write_drafts(drafts: Sequence[Draft], out: Path, *, force: bool) -> tuple[Written, ...]:
    """Write each draft's files under `out` (in order: models before the endpoints and prompts that name
    them). A file that holds other content is not overwritten without `force`; a draft that refers to a
    model whose file was not written is not written either (its manifest would not load)."""
    outcomes: list[Written] = []
    refused: set[str] = set()  # Model names whose files were not written
    for draft in drafts:
        manifest = out / draft.files[0][0]
        blocked = sorted(_models_named(draft) & refused)
        current = {name: _current(out / name) for name, _ in draft.files}
        clash = [name for name, text in draft.files if current[name] not in (None, text)]
        if blocked or (clash and not force):
            why = (
                f"the file of model {blocked[0]} was not written"
                if blocked
                else f"{out / clash[0]} exists with other content (--force overwrites it)"
            )
            outcomes.append(Written(draft.address, manifest, FileStatus.REFUSED, why))
            refused |= {draft.name} if draft.kind == "Model" else set()
            continue
        changed = [(name, text) for name, text in draft.files if current[name] != text]
        for name, text in reversed(changed):  # a prompt's template before its manifest
            _write_whole(out / name, text)
        outcomes.append(Written(draft.address, manifest, FileStatus.WRITTEN if changed else FileStatus.UNCHANGED))
    return tuple(outcomes)


# -- the check before adopting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether an imported resource may be adopted: its manifest plans to no changes (else why not)."""

    address: str
    adoptable: bool
    why: str = ""


def _inside(file: str, directory: Path) -> bool:
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
        if MANAGED_BY_LABEL in labels or item is None or not _inside(item.file, out):
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


# -- the whole command --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    """Everything one `genaiops import` did and found, for the view."""

    drafting: Drafting
    written: tuple[Written, ...] = ()
    verdicts: tuple[Verdict, ...] = ()  # endpoints and models imported (now or before) and not managed
    prompts: tuple[Verdict, ...] = ()  # the prompts written now
    adoptions: tuple[Adoption, ...] = ()
    adopt_requested: bool = False
    regions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def nothing(self) -> bool:
        """Nothing to write, nothing imported that waits for adoption."""
        return not self.drafting.drafts and not self.verdicts

    @property
    def failed(self) -> bool:
        """A file was not written, or (with --adopt) a resource that was asked for was not adopted."""
        refused_file = any(w.status is FileStatus.REFUSED for w in self.written)
        unadopted = self.adopt_requested and (
            any(not v.adoptable for v in self.verdicts) or any(not a.ok for a in self.adoptions)
        )
        return refused_file or unadopted or any(not v.adoptable for v in self.prompts)


def load_root(root: Path, *, default_region: str) -> LoadResult:
    """The manifests under `root`; an absent or empty directory declares nothing. ManifestLoadError when
    they do not load (nothing is imported next to manifests that do not load)."""
    if root.exists() and not root.is_dir():
        raise UserError(f"{root} is a file: give the manifests directory (import writes files into it)")
    if not root.exists() or not discover(root)[0]:
        return LoadResult((), (), 0)
    result = load(root, default_region=default_region)
    if not result.ok:
        raise ManifestLoadError(
            f"the manifests under {root} have errors: fix them first", result.diagnostics, result.files
        )
    return result


def _load_written(root: Path, default_region: str, created: Sequence[Path]) -> LoadResult:
    """Load again after writing; when the written files do not load, remove the ones this run created (so
    `plan` keeps working) and say so."""
    try:
        return load_root(root, default_region=default_region)
    except ManifestLoadError as err:
        for path in created:
            path.unlink(missing_ok=True)
        raise ManifestLoadError(
            f"the manifests import wrote do not load (a bug in genaiops import; {len(created)} new files removed)",
            err.diagnostics,
            err.files,
        ) from err


def run_import(
    *,
    root: Path,
    out: Path,
    ports: Mapping[str, InventoryPort],
    store: PromptStore | None,
    default_region: str,
    force: bool = False,
    adopt_them: bool = False,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> ImportReport:
    """Read, draft, write, check and (with `adopt_them`) adopt; see the module docstring."""
    if not _inside(str(out), root):
        raise UserError(f"--out {out} must be inside {root}: plan and apply read the imported manifests from there")
    before = load_root(root, default_region=default_region)
    declared = declared_addresses([(i.manifest, i.file) for i in before.manifests])
    prompts_declared = {a.rsplit("/", 1)[-1] for a in declared if a.startswith("Prompt/")}
    inventory = read_inventory(ports, store=store, declared_prompts=prompts_declared, retry=retry)
    drafting = draft_imports(
        endpoints=inventory.endpoints,
        models=inventory.models,
        prompts=inventory.prompts,
        declared=declared,
        manifests=[i.manifest for i in before.manifests],
    )
    existed = {d.address: (out / d.files[0][0]).exists() for d in drafting.drafts}
    written = write_drafts(drafting.drafts, out, force=force)
    created = [w.path for w in written if w.status is FileStatus.WRITTEN and not existed[w.address]]
    after = _load_written(root, default_region, created) if drafting.drafts else before
    verdicts = adoption_verdicts(after, inventory, out=out)
    new_prompts = {w.address.rsplit("/", 1)[-1] for w in written if w.address.startswith("Prompt/")}
    prompt_checks = prompt_verdicts(after, new_prompts, store) if store is not None and new_prompts else ()
    adoptions = adopt(ports, inventory, verdicts, retry=retry) if adopt_them else ()
    return ImportReport(
        drafting, written, verdicts, prompt_checks, adoptions, adopt_requested=adopt_them, regions=tuple(sorted(ports))
    )
