"""Environments in the loader: one manifest tree, several targets (`--env NAME`), like kustomize overlays.

Between parsing and validation the loader hands the base documents and the selected `Environment` here:
its labels are added to every manifest's `metadata.labels`, then each patch is merged (`loader.overlay`,
a strategic merge on the raw parsed values) over the manifests its target names. The merged documents are
validated as a whole afterwards, so a typo in a patch is reported at its line and column in the
environment file. The environment's region becomes the default region, and its budget a `Budget`
manifest named `<env>-budget`. Every value set is recorded as an `Override` (for `plan --env`).
Pure: no file is read here; problems are diagnostics, never exceptions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from controller.diagnostics import Diagnostic, Source
from controller.loader.checks import Located
from controller.loader.errors import format_path
from controller.loader.overlay import Overlay, copy_positions
from controller.loader.yaml_source import Document, Path, Positions
from controller.model import API_VERSION, Budget, Environment, Metadata, Override
from controller.model.environment import PatchTarget
from controller.model.suggest import did_you_mean

MAX_NAMES_SHOWN = 12


@dataclass(frozen=True)
class FileDocument:
    """A parsed document and the file it is in."""

    file: str
    document: Document


@dataclass(frozen=True)
class Declared:
    """An Environment that validated, with its document (the raw patches and their positions)."""

    located: Located
    document: Document

    @property
    def environment(self) -> Environment:
        """The validated Environment."""
        manifest = self.located.manifest
        assert isinstance(manifest, Environment)
        return manifest

    @property
    def name(self) -> str:
        """Its metadata.name, the NAME of `--env NAME`."""
        return self.environment.metadata.name

    @property
    def file(self) -> str:
        """The environment file."""
        return self.located.file

    def origin(self, path: Path) -> tuple[int, int]:
        """Line and column of a value in the environment file."""
        return self.document.positions.of_value(path)


@dataclass(frozen=True)
class Merged:
    """The base documents with the environment merged in (unchanged ones are the same objects), the values
    it set and what was wrong with its patches."""

    documents: tuple[FileDocument, ...]
    overrides: tuple[Override, ...]
    problems: tuple[Diagnostic, ...]


def duplicate_environments(environments: Iterable[Declared]) -> list[Diagnostic]:
    """Two Environments with one name: `--env` could not say which."""
    seen: dict[str, Declared] = {}
    problems: list[Diagnostic] = []
    for env in environments:
        first = seen.setdefault(env.name, env)
        if first is not env:
            line, _ = first.origin(("metadata", "name"))
            summary = f"duplicate Environment/{env.name}: first declared at {first.file}:{line}"
            problems.append(env.located.at(("metadata", "name"), summary))
    return problems


def select(
    environments: Sequence[Declared], name: str, *, root: str, invalid: Collection[str] = ()
) -> tuple[Declared | None, list[Diagnostic]]:
    """The Environment `--env NAME` names; else a diagnostic listing those found (none when the one named
    is declared but invalid: its own diagnostics say why)."""
    for env in environments:
        if env.name == name:
            return env, []
    if name in invalid:
        return None, []
    names = sorted({env.name for env in environments})
    if not names:
        summary = f"unknown environment {name!r}: there is no Environment manifest under {root}"
    else:
        summary = f"unknown environment {name!r}{did_you_mean(name, names)} (have: {', '.join(names)})"
    return None, [Diagnostic(summary, Source(root))]


def apply_environment(env: Declared, documents: Sequence[FileDocument]) -> Merged:
    """`env`'s labels, then its patches in order, merged over the base documents."""
    docs = list(documents)
    overrides: dict[tuple[str, str], dict[str, Override]] = {}
    problems: list[Diagnostic] = []
    spec = env.document.value["spec"]
    labels = spec.get("labels")
    if isinstance(labels, dict) and labels:
        for index, doc in enumerate(docs):
            docs[index] = _merge(env, doc, {"metadata": {"labels": labels}}, ("spec",), overrides, problems)
    for index, patch in enumerate(env.environment.spec.patches):
        patch_at: Path = ("spec", "patches", index)
        raw = spec["patches"][index]["patch"]
        targets = [i for i, doc in enumerate(docs) if _matches(doc.document.value, patch.target)]
        if not targets:
            problems.append(_no_target(env, patch.target, docs, patch_at))
            continue
        found = _identity_problems(env, raw, patch.target, (*patch_at, "patch"))
        if found:
            problems.extend(found)
            continue
        for i in targets:
            docs[i] = _merge(env, docs[i], raw, (*patch_at, "patch"), overrides, problems, relabel=False)
    recorded = tuple(o for by_path in overrides.values() for o in by_path.values())
    return Merged(tuple(docs), recorded, tuple(problems))


def _merge(
    env: Declared,
    doc: FileDocument,
    patch: dict[str, Any],
    patch_at: Path,
    overrides: dict[tuple[str, str], dict[str, Override]],
    problems: list[Diagnostic],
    *,
    relabel: bool = True,
) -> FileDocument:
    """One document with `patch` (at `patch_at` in the environment document; for the labels, `spec`, whose
    `labels` lands at `metadata.labels`) merged over it."""
    value = doc.document.value
    if not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return doc  # not a manifest: its own diagnostics say why
    kind, name = str(value.get("kind")), str(value["metadata"].get("name"))
    overlay = Overlay(
        positions=copy_positions(doc.document.positions),
        source=env.document.positions,
        file=env.file,
        kind=kind,
        name=name,
        overrides=overrides.setdefault((kind, name), {}),
        problems=problems,
    )
    if relabel:
        merged = dict(value)
        merged["metadata"] = overlay.merge_map(
            value["metadata"], patch["metadata"], at=("metadata",), patch_at=patch_at, shown="metadata"
        )
    else:
        merged = overlay.merge_map(value, patch, at=(), patch_at=patch_at, shown="")
    old = doc.document
    return FileDocument(doc.file, Document(old.index, merged, overlay.positions, old.line))


def _matches(value: Any, target: PatchTarget) -> bool:
    if not isinstance(value, dict) or value.get("kind") != target.kind:
        return False
    if target.name is None:
        return True
    metadata = value.get("metadata")
    return isinstance(metadata, dict) and metadata.get("name") == target.name


def _no_target(env: Declared, target: PatchTarget, docs: Sequence[FileDocument], patch_at: Path) -> Diagnostic:
    names = sorted(_names_of(target.kind, docs))
    field: Path = (*patch_at, "target", "name" if target.name is not None else "kind")
    if not names:
        summary = f"patch target matches no manifest: there is no {target.kind} manifest"
    else:
        shown = ", ".join(names[:MAX_NAMES_SHOWN]) + (", ..." if len(names) > MAX_NAMES_SHOWN else "")
        wanted = target.name or ""
        summary = (
            f"patch target {target.kind}/{wanted} matches no manifest{did_you_mean(wanted, names)} "
            f"({target.kind} manifests: {shown})"
        )
    return _at(env, field, summary)


def _names_of(kind: str, docs: Sequence[FileDocument]) -> set[str]:
    names: set[str] = set()
    for doc in docs:
        value = doc.document.value
        if isinstance(value, dict) and value.get("kind") == kind and isinstance(value.get("metadata"), dict):
            name = value["metadata"].get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def _identity_problems(env: Declared, patch: dict[str, Any], target: PatchTarget, at: Path) -> list[Diagnostic]:
    """A patch may not change what a manifest is: its kind, apiVersion or metadata.name."""
    problems: list[Diagnostic] = []
    for key, keeps in (("apiVersion", API_VERSION), ("kind", target.kind)):
        if key in patch and patch[key] != keeps:
            problems.append(_at(env, (*at, key), f"a patch cannot change {key} (the manifest keeps {keeps!r})"))
    if "metadata" not in patch:
        return problems
    metadata = patch["metadata"]
    if not isinstance(metadata, dict):
        problems.append(_at(env, (*at, "metadata"), "a patch cannot replace metadata: it would change metadata.name"))
    elif "name" in metadata and (target.name is None or metadata["name"] != target.name):
        reason = f"the manifest keeps {target.name!r}" if target.name else "it would rename every target"
        problems.append(_at(env, (*at, "metadata", "name"), f"a patch cannot change metadata.name ({reason})"))
    return problems


def _at(env: Declared, path: Path, summary: str) -> Diagnostic:
    line, column = env.origin(path)
    return Diagnostic(summary, Source(env.file, line, column), format_path(path))


def region_override(env: Declared, *, kind: str, name: str) -> Override:
    """The environment's region given to a Model or Endpoint that names none."""
    line, column = env.origin(("spec", "region"))
    return Override(kind, name, "spec.region", env.environment.spec.region, env.file, line, column)


def budget_of(env: Declared) -> Located | None:
    """The environment's `spec.budget` as a Budget manifest named `<env>-budget`, positioned in its file."""
    spec = env.environment.spec.budget
    if spec is None:
        return None
    metadata = Metadata.model_construct(name=f"{env.name}-budget", labels={}, annotations={})
    budget = Budget.model_construct(api_version="genaiops/v1", kind="Budget", metadata=metadata, spec=spec)
    return Located(budget, env.file, _budget_positions(env.document.positions), env.located.root)


def _budget_positions(source: Positions) -> Positions:
    """`spec.budget.*` re-rooted to `spec.*`; the envelope at the environment's own."""
    prefix: Path = ("spec", "budget")
    out = Positions()
    for here, there in (((), prefix), (("spec",), prefix)):
        out.values[here] = source.of_value(there)
    envelope: tuple[Path, ...] = (("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"))
    for path in envelope:
        out.values[path] = source.of_value(path)
    for found, into in ((source.values, out.values), (source.keys, out.keys)):
        for path, where in found.items():
            if path[:2] == prefix and len(path) > 2:
                into[("spec", *path[2:])] = where
    return out
