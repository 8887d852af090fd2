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

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from controller.diagnostics import Diagnostic, Source, has_errors, sort_key
from controller.loader.checks import Located, check_endpoint, check_prompt, check_set
from controller.loader.errors import validation_diagnostics
from controller.loader.files import FileRefusedError, manifests_root, not_regular, read_bytes
from controller.loader.tuning_checks import check_dataset, check_pipeline, check_tuning_set
from controller.loader.yaml_source import Document, YamlError, parse_documents
from controller.model import API_VERSION, KINDS, Dataset, Endpoint, Environment, Model, Override, Pipeline, Prompt

MAX_FILE_BYTES = 1024 * 1024
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadResult:
    """What a set of manifest files declares, and what is wrong with it."""

    manifests: tuple[Located, ...]
    diagnostics: tuple[Diagnostic, ...]
    files: int
    environment: Environment | None = None  # the one `--env` selected (its patches are merged in)
    environments: tuple[Environment, ...] = ()  # every Environment under the root (never planned themselves)
    overrides: tuple[Override, ...] = ()  # the values the selected environment set, with their origin

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not has_errors(self.diagnostics)


def discover(root: Path) -> tuple[list[Path], list[Diagnostic]]:
    """Manifest files under `root` (or `root` itself), sorted; hidden files and directories are skipped.

    An entry named `*.yaml` / `*.yml` that cannot be read as a manifest (a FIFO, a device, a directory, a
    dangling symlink) and a symlinked directory (never followed) are errors, not silently skipped: what
    they may declare would be missing from the load, and `--prune` would delete it. Nothing but a regular
    file is ever opened (opening a FIFO would block)."""
    problem = not_regular(root)
    if problem is None:
        return [root], []
    if root.is_dir():
        files, problems = _walk(root)
        if not files and not problems:
            problems.append(Diagnostic(f"no *.yaml or *.yml files under {root}", Source(str(root))))
        return files, problems
    if problem == "does not exist":
        return [], [Diagnostic(f"no such file or directory: {root}", Source(str(root)))]
    return [], [Diagnostic(f"it {problem}; give a manifest file or a directory of them", Source(str(root), 1, 1))]


def _walk(root: Path) -> tuple[list[Path], list[Diagnostic]]:
    files: list[Path] = []
    problems: list[Diagnostic] = []

    def refuse(path: Path, reason: str) -> None:
        problems.append(Diagnostic(reason, Source(str(path), 1, 1)))

    def unlistable(err: OSError) -> None:
        refuse(Path(err.filename or root), f"not loaded: cannot list this directory: {err.strerror or err}")

    for current, dirs, names in os.walk(root, onerror=unlistable):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in list(dirs):
            path = here / name
            if path.is_symlink():  # os.walk never follows it: what it holds would be silently left out
                dirs.remove(name)
                refuse(
                    path,
                    "not loaded: it is a symlink to a directory, and genaiops does not follow those; move the "
                    "manifests here or run genaiops on that directory",
                )
            elif name.endswith(SUFFIXES):
                refuse(path, "a directory named like a manifest file; rename it (the files inside it are loaded)")
        for name in sorted(names):
            if name.startswith(".") or not name.endswith(SUFFIXES):
                continue
            path = here / name
            problem = not_regular(path)
            if problem is None:
                files.append(path)
            else:
                refuse(path, f"not loaded: it {problem}; manifest files must be regular files")
    return sorted(files), problems


def _read(path: Path) -> tuple[str | None, Diagnostic | None]:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, Diagnostic(
                f"file is {size / 1024 / 1024:.1f} MiB; manifests are limited to {MAX_FILE_BYTES // 1024} KiB",
                Source(name, 1, 1),
            )
        data = read_bytes(path, limit=MAX_FILE_BYTES)
    except OSError as err:
        return None, Diagnostic(f"cannot read file: {err.strerror or err}", Source(name))
    except FileRefusedError as err:
        return None, Diagnostic(f"cannot read file: it {err.reason}", Source(name))
    if b"\x00" in data:
        return None, Diagnostic("binary file: manifests must be UTF-8 text", Source(name, 1, 1))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return None, Diagnostic(f"not UTF-8 text (byte {err.start})", Source(name, line, 1))
    return text, None


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


@dataclass
class _FileResult:
    """One file's valid manifests, its diagnostics, and (kind, name) of the manifests it declares that
    failed validation (so references to them are not reported again as unknown)."""

    located: list[Located]
    diagnostics: list[Diagnostic]
    invalid: list[tuple[str, str]]


def _declared(document: Document) -> tuple[str, str] | None:
    """(kind, metadata.name) of a document that names both, valid or not."""
    value = document.value
    if not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return None
    kind, name = value.get("kind"), value["metadata"].get("name")
    return (kind, name) if isinstance(kind, str) and isinstance(name, str) else None


def _load_file(path: Path, *, root: Path | None = None) -> _FileResult:
    text, problem = _read(path)
    if problem is not None or text is None:
        return _FileResult([], [problem] if problem else [], [])
    file = str(path)
    result = _FileResult([], [], [])
    count = 0
    try:
        for document in parse_documents(text):
            count += 1
            item, found = _validate(document, file, str(root if root is not None else path.parent))
            result.diagnostics.extend(found)
            if item is not None:
                result.located.append(item)
            elif (declared := _declared(document)) is not None:
                result.invalid.append(declared)
    except YamlError as err:
        result.diagnostics.append(Diagnostic(err.message, Source(file, err.line, err.column)))
    if count == 0 and not result.diagnostics:
        result.diagnostics.append(Diagnostic("file is empty: it declares no manifest", Source(file, 1, 1)))
    return result


def load_file(path: Path, *, root: Path | None = None) -> tuple[list[Located], list[Diagnostic]]:
    """Parse and validate every document in one file (no cross-file checks). Files its manifests name
    must stay inside `root` (default: the file's directory)."""
    result = _load_file(path, root=root)
    return result.located, result.diagnostics


def _load_and_check(paths: list[Path], root: Path) -> list[_FileResult]:
    """Load files and run the checks that need one manifest at a time. (Spreading this over processes was
    measured: pickling the results back costs more than the second core saves.)"""
    out: list[_FileResult] = []
    for path in paths:
        result = _load_file(path, root=root)
        for item in result.located:
            if isinstance(item.manifest, Endpoint):
                result.diagnostics.extend(check_endpoint(item, item.manifest))
            elif isinstance(item.manifest, Prompt):
                result.diagnostics.extend(check_prompt(item, item.manifest))
            elif isinstance(item.manifest, Dataset):
                result.diagnostics.extend(check_dataset(item, item.manifest))
            elif isinstance(item.manifest, Pipeline):
                result.diagnostics.extend(check_pipeline(item, item.manifest))
        out.append(result)
    return out


DEFAULT_REGION = "us-central1"


def _in_region(item: Located, region: str) -> Located:
    """A Model or Endpoint that names no `spec.region` gets the target's default region."""
    manifest = item.manifest
    if isinstance(manifest, Model | Endpoint) and "region" not in manifest.spec.model_fields_set:
        spec = manifest.spec.model_copy(update={"region": region})
        return Located(manifest.model_copy(update={"spec": spec}), item.file, item.positions, item.root)
    return item


def load(root: Path, *, default_region: str = DEFAULT_REGION) -> LoadResult:
    """Load, validate and cross-check every manifest under `root`; manifests without a region get
    `default_region` (the `--region` flag or GOOGLE_CLOUD_REGION). Template and response files must lie
    inside `root` (a directory), or inside the directory of `root` when it is a single file."""
    files, diagnostics = discover(root)
    items: list[Located] = []
    invalid: list[tuple[str, str]] = []
    for result in _load_and_check(files, manifests_root(root)):
        items.extend(_in_region(item, default_region) for item in result.located)
        diagnostics.extend(result.diagnostics)
        invalid.extend(result.invalid)
    diagnostics.extend(check_set(items, invalid=invalid))
    diagnostics.extend(check_tuning_set(items, invalid=invalid))
    return LoadResult(tuple(items), tuple(sorted(diagnostics, key=sort_key)), len(files))
