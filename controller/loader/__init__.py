"""The loader: files -> validated, cross-checked manifests, or every problem found as a diagnostic.

`load(path)` discovers `*.yaml` / `*.yml` under a path (recursive, sorted), parses each document with
source positions, validates it against its kind's model and then checks the whole set. It never raises
for bad input: whatever the files hold, the answer is manifests plus diagnostics.

Only regular files are read (`loader.files`): an entry named like a manifest that is a FIFO, a device, a
directory or a dangling symlink is an error, never silently skipped, so a load that misses something is
never mistaken for a complete one (plan and apply refuse a load with errors, so `--prune` cannot delete
what an unreadable file declares). Files manifests name stay inside the manifests root: `root` itself, or
its directory when it is a single file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from controller.diagnostics import Diagnostic, Severity, Source, has_errors, sort_key
from controller.loader.alert_checks import check_alert_set
from controller.loader.checks import Located, check_endpoint, check_generated_name, check_prompt, check_set
from controller.loader.discovery import MAX_FILE_BYTES, SUFFIXES, discover, read_manifest
from controller.loader.environments import (
    Declared,
    FileDocument,
    apply_environment,
    budget_of,
    duplicate_environments,
    region_override,
    select,
)
from controller.loader.errors import validation_diagnostics
from controller.loader.files import manifests_root
from controller.loader.lifecycle_checks import lifecycle_diagnostics
from controller.loader.tuning_checks import check_dataset, check_pipeline, check_tuning_set
from controller.loader.yaml_source import Document, YamlError, parse_documents
from controller.model import API_VERSION, KINDS, Dataset, Endpoint, Environment, Model, Override, Pipeline, Prompt
from controller.model.catalogue.lifecycle import Horizon


@dataclass(frozen=True)
class LoadResult:
    """What a set of manifest files declares, and what is wrong with it."""

    manifests: tuple[Located, ...]
    diagnostics: tuple[Diagnostic, ...]
    files: int
    environment: Environment | None = None  # the one `--env` selected (its patches are merged in)
    environment_file: str = ""  # the file that declares it
    environments: tuple[Environment, ...] = ()  # every Environment under the root (never planned themselves)
    overrides: tuple[Override, ...] = ()  # the values the selected environment set, with their origin
    horizon: Horizon | None = None  # the day and horizon the models were judged on (None: not judged)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not has_errors(self.diagnostics)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that are not errors (a model retiring within the horizon); all of them when `ok`."""
        return tuple(d for d in self.diagnostics if d.severity is not Severity.ERROR)


def _validate(document: Document, file: str, root: str) -> tuple[Located | None, list[Diagnostic]]:
    value, positions = document.value, document.positions
    where = Source(file, *positions.of_value(()))
    if not isinstance(value, dict):
        return None, [Diagnostic("a manifest must be a mapping with apiVersion, kind, metadata and spec", where)]
    api_version, kind = value.get("apiVersion"), value.get("kind")
    problems: list[Diagnostic] = []
    if api_version != API_VERSION:
        line, col = positions.of_value(("apiVersion",))
        got = "missing" if api_version is None else f"got {api_version!r}"
        problems.append(
            Diagnostic(f"apiVersion must be {API_VERSION!r} ({got})", Source(file, line, col), "apiVersion")
        )
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        line, col = positions.of_value(("kind",))
        got = "missing" if kind is None else f"got {kind!r}"
        problems.append(Diagnostic(f"kind must be one of {', '.join(KINDS)} ({got})", Source(file, line, col), "kind"))
    if problems or model is None:
        return None, problems
    try:
        manifest = model.model_validate(value)
    except ValidationError as err:
        return None, validation_diagnostics(err, file=file, positions=positions)
    return Located(manifest, file, positions, root), []


def _declared(document: Document) -> tuple[str, str] | None:
    """(kind, metadata.name) of a document that names both, valid or not."""
    value = document.value
    if not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return None
    kind, name = value.get("kind"), value["metadata"].get("name")
    return (kind, name) if isinstance(kind, str) and isinstance(name, str) else None


@dataclass(frozen=True)
class _Parsed:
    """Phase 1 of a load: every file read and parsed once; the Environments validated and set apart."""

    files: int
    problems: tuple[Diagnostic, ...]  # discovery, reading, YAML, and the Environments' own
    documents: tuple[FileDocument, ...]  # every other document, in file order
    environments: tuple[Declared, ...]  # the Environments that validated
    invalid_environments: frozenset[str]  # names of those that did not
    root: Path  # the manifests root


def _parse_file(path: Path, *, root: str, parsed: _Parsing) -> None:
    text, problem = read_manifest(path)
    if problem is not None or text is None:
        parsed.problems.extend([problem] if problem else [])
        return
    file = str(path)
    before = len(parsed.problems)
    count = 0
    try:
        for document in parse_documents(text):
            count += 1
            declared = _declared(document)
            if isinstance(document.value, dict) and document.value.get("kind") == "Environment":
                item, found = _validate(document, file, root)
                parsed.problems.extend(found)
                if item is not None:
                    parsed.problems.extend(check_generated_name(item))
                    parsed.environments.append(Declared(item, document))
                elif declared is not None:
                    parsed.invalid_environments.add(declared[1])
            else:
                parsed.documents.append(FileDocument(file, document))
    except YamlError as err:
        parsed.problems.append(Diagnostic(err.message, Source(file, err.line, err.column)))
    if count == 0 and len(parsed.problems) == before:
        parsed.problems.append(Diagnostic("file is empty: it declares no manifest", Source(file, 1, 1)))


@dataclass
class _Parsing:
    problems: list[Diagnostic]
    documents: list[FileDocument]
    environments: list[Declared]
    invalid_environments: set[str]


def _parse(root: Path) -> _Parsed:
    files, problems = discover(root)
    parsing = _Parsing(problems, [], [], set())
    directory = manifests_root(root)
    for path in files:
        _parse_file(path, root=str(directory), parsed=parsing)
    problems.extend(duplicate_environments(parsing.environments))
    return _Parsed(
        files=len(files),
        problems=tuple(problems),
        documents=tuple(parsing.documents),
        environments=tuple(parsing.environments),
        invalid_environments=frozenset(parsing.invalid_environments),
        root=root,
    )


@dataclass(frozen=True)
class _Checked:
    """One document validated and checked alone; `declared` is (kind, name) of an invalid manifest (so
    references to it are not reported again as unknown)."""

    located: Located | None
    diagnostics: tuple[Diagnostic, ...]
    declared: tuple[str, str] | None


def _check_document(doc: FileDocument, *, root: str) -> _Checked:
    """Validate one document and run the checks that need one manifest at a time. (Spreading this over
    processes was measured: pickling the results back costs more than the second core saves.)"""
    item, found = _validate(doc.document, doc.file, root)
    if item is None:
        return _Checked(None, tuple(found), _declared(doc.document))
    manifest = item.manifest
    found.extend(check_generated_name(item))
    if isinstance(manifest, Endpoint):
        found.extend(check_endpoint(item, manifest))
    elif isinstance(manifest, Prompt):
        found.extend(check_prompt(item, manifest))
    elif isinstance(manifest, Dataset):
        found.extend(check_dataset(item, manifest))
    elif isinstance(manifest, Pipeline):
        found.extend(check_pipeline(item, manifest))
    return _Checked(item, tuple(found), None)


def load_file(path: Path, *, root: Path | None = None) -> tuple[list[Located], list[Diagnostic]]:
    """Parse and validate every document in one file (no cross-file checks). Files its manifests name
    must stay inside `root` (default: the file's directory)."""
    directory = str(root if root is not None else path.parent)
    parsing = _Parsing([], [], [], set())
    _parse_file(path, root=directory, parsed=parsing)
    checked = [_validate(doc.document, doc.file, directory) for doc in parsing.documents]
    located = [env.located for env in parsing.environments] + [item for item, _ in checked if item is not None]
    return located, [*parsing.problems, *(d for _, found in checked for d in found)]


DEFAULT_REGION = "us-central1"


def _in_region(item: Located, region: str) -> Located:
    """A Model or Endpoint that names no `spec.region` gets the target's default region."""
    manifest = item.manifest
    if isinstance(manifest, Model | Endpoint) and "region" not in manifest.spec.model_fields_set:
        spec = manifest.spec.model_copy(update={"region": region})
        return Located(manifest.model_copy(update={"spec": spec}), item.file, item.positions, item.root)
    return item


def _validated(
    parsed: _Parsed, documents: tuple[FileDocument, ...], cache: dict[int, _Checked] | None
) -> list[_Checked]:
    """Each document validated and checked alone; a base document's result comes from (or goes to) `cache`."""
    root = str(manifests_root(parsed.root))
    out: list[_Checked] = []
    for index, doc in enumerate(documents):
        is_base = doc is parsed.documents[index]
        checked = cache.get(index) if cache is not None and is_base else None
        if checked is None:
            checked = _check_document(doc, root=root)
            if cache is not None and is_base:
                cache[index] = checked
        out.append(checked)
    return out


def _assemble(
    parsed: _Parsed,
    *,
    default_region: str,
    env: str | None,
    cache: dict[int, _Checked] | None = None,
    horizon: Horizon | None = None,
) -> LoadResult:
    """Phase 2: merge the selected environment (if any), validate, check each manifest and the whole set,
    and (with a `horizon`) judge the publisher models the manifests write on its day. `cache` keeps the
    results of the base documents (by index) for loading several environments."""
    diagnostics = list(parsed.problems)
    documents = parsed.documents
    selected: Declared | None = None
    overrides: list[Override] = []
    if env is not None:
        selected, found = select(parsed.environments, env, root=str(parsed.root), invalid=parsed.invalid_environments)
        diagnostics.extend(found)
        if selected is not None:
            merged = apply_environment(selected, documents)
            documents = merged.documents
            overrides.extend(merged.overrides)
            diagnostics.extend(merged.problems)
    env_region = selected.environment.spec.region if selected is not None else None
    region = env_region or default_region
    items: list[Located] = []
    invalid: list[tuple[str, str]] = []
    for checked in _validated(parsed, documents, cache):
        diagnostics.extend(checked.diagnostics)
        if checked.located is not None:
            item = _in_region(checked.located, region)
            if env_region is not None and selected is not None and item is not checked.located:
                manifest = item.manifest
                overrides.append(region_override(selected, kind=manifest.kind, name=manifest.metadata.name))
            items.append(item)
        elif checked.declared is not None:
            invalid.append(checked.declared)
    budget = budget_of(selected) if selected is not None else None
    if budget is not None:
        items.append(budget)
    diagnostics.extend(check_set(items, invalid=invalid))
    diagnostics.extend(lifecycle_diagnostics(items, horizon))
    diagnostics.extend(check_tuning_set(items, invalid=invalid))
    diagnostics.extend(check_alert_set(items, invalid=invalid))
    return LoadResult(
        tuple(items),
        tuple(sorted(diagnostics, key=sort_key)),
        parsed.files,
        environment=selected.environment if selected is not None else None,
        environment_file=selected.file if selected is not None else "",
        environments=tuple(e.environment for e in parsed.environments),
        overrides=tuple(overrides),
        horizon=horizon,
    )


def load(
    root: Path, *, default_region: str = DEFAULT_REGION, env: str | None = None, horizon: Horizon | None = None
) -> LoadResult:
    """Load, validate and cross-check every manifest under `root`; manifests without a region get
    `default_region` (the `--region` flag or GOOGLE_CLOUD_REGION). Template and response files must lie
    inside `root` (a directory), or inside the directory of `root` when it is a single file.

    `env` selects an Environment (`--env NAME`): its labels and patches are merged over the manifests
    before they are validated, its region replaces `default_region` and its budget becomes a Budget
    manifest; `LoadResult.overrides` says where each value it set came from. Environments are never
    manifests themselves: they are in `LoadResult.environments`.

    `horizon` (the CLI's `--today` / `--retirement-horizon`) judges every Google publisher model the
    manifests write on its day: a retired one is an error, one retiring within it a warning. None (library
    callers): no lifecycle checks."""
    return _assemble(_parse(root), default_region=default_region, env=env, horizon=horizon)


@dataclass(frozen=True)
class EnvironmentsReport:
    """`validate` over the base and each environment: the base load, the environments checked, and every
    problem (the base's, then those only an environment has, prefixed `environment NAME: `)."""

    base: LoadResult
    checked: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not has_errors(self.diagnostics)


def validate_environments(
    root: Path, *, default_region: str = DEFAULT_REGION, env: str | None = None, horizon: Horizon | None = None
) -> EnvironmentsReport:
    """Load the base once and then each environment (or only `env`), from one parse of the files; a
    document no environment changes is validated once. Problems the base has too are not repeated.
    `horizon` as for `load`."""
    parsed = _parse(root)
    cache: dict[int, _Checked] = {}
    base = _assemble(parsed, default_region=default_region, env=None, cache=cache, horizon=horizon)
    known = {_identity(d) for d in base.diagnostics}
    names = [env] if env is not None else list(dict.fromkeys(e.name for e in parsed.environments))
    extra: list[Diagnostic] = []
    checked: list[str] = []
    for name in names:
        result = _assemble(parsed, default_region=default_region, env=name, cache=cache, horizon=horizon)
        prefix = "" if result.environment is None else f"environment {name}: "
        seen = set(known)
        for diagnostic in result.diagnostics:
            if _identity(diagnostic) not in seen:
                seen.add(_identity(diagnostic))
                extra.append(replace(diagnostic, summary=prefix + diagnostic.summary))
        if result.environment is not None:
            checked.append(name)
    return EnvironmentsReport(base, tuple(checked), (*base.diagnostics, *sorted(extra, key=sort_key)))


def _identity(diagnostic: Diagnostic) -> tuple[object, ...]:
    """What makes two diagnostics the same problem (a field path may differ by a shifted list index)."""
    return (diagnostic.severity, diagnostic.source, diagnostic.summary)


__all__ = [
    "DEFAULT_REGION",
    "MAX_FILE_BYTES",
    "SUFFIXES",
    "EnvironmentsReport",
    "LoadResult",
    "discover",
    "load",
    "load_file",
    "validate_environments",
]
