"""`genaiops import`: read what Vertex AI and the prompt store hold that no manifest declares, write
manifests for it, and (with `--adopt`) hand it to genaiops, but only what the written manifests plan to no
changes for.

    InventoryPort lists (every endpoint and model, no label filter) + the prompt store
      -> import_drafts.draft_imports (pure): drafts, and skips (declared, managed, cannot import: why)
      -> write_drafts: one YAML file per resource under --out (never over different content without force)
      -> load the manifests again -> adoption.adoption_verdicts: the planner (plans/planner.py, the one plan uses)
         plans the written manifests against the live resources as if genaiops owned them (a copy with
         the managed-by label added); every imported resource must come out no-op, anything else is
         refused with the plan's field changes as the reason
      -> adoption.adopt: one labels-only update per resource (its current labels + managed-by: genaiops), models
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
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from controller.diagnostics import Diagnostic
from controller.engine.adoption import Adoption, Inventory, Verdict, adopt, adoption_verdicts, inside, prompt_verdicts
from controller.engine.import_drafts import Drafting, declared_addresses, draft_imports
from controller.engine.import_prompts import StoredPrompt, chosen_version
from controller.engine.import_render import Draft
from controller.engine.retry import DEFAULT_RETRY, RetryPolicy
from controller.errors import NotFoundError, UserError
from controller.loader import LoadResult, discover, load
from controller.model import split_model_ref
from controller.observed import ObservedEndpoint, ObservedModel
from controller.ports import InventoryPort
from controller.prompts.store import PromptStore


class ManifestLoadError(UserError):
    """The manifests under the root do not load: nothing is imported (or adopted) from a partial view."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic], files: int) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)
        self.files = files


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
    for name in _stored_names(store):
        if name in declared_prompts or store is None:
            continue
        index = store.read_index(name)
        chosen = chosen_version(index) if index is not None else None
        version = store.read_version(name, chosen) if index is not None and chosen is not None else None
        if index is not None and version is not None:
            prompts.append(StoredPrompt(index, version))
    return Inventory(tuple(endpoints), tuple(models), tuple(prompts))


def _stored_names(store: PromptStore | None) -> list[str]:
    """The prompts in the store; none when the store is not there yet (nothing was ever published)."""
    if store is None:
        return []
    try:
        return store.list_prompts()
    except NotFoundError:
        return []


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
    if not inside(str(out), root):
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
