"""Semantic checks the schema cannot express: per manifest (traffic, steps, templates) and across the
whole set (duplicate names, dangling references, regions). Pure: reads template and response files (through
`loader.files`, which keeps them inside the manifests root), nothing else."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path as FsPath

from controller.diagnostics import Diagnostic, Severity, Source
from controller.loader.errors import format_path
from controller.loader.files import FileRefusedError, LocalFile, read_local
from controller.loader.templates import analyse, first_use
from controller.loader.yaml_source import Path, Positions
from controller.model import Endpoint, Manifest, Model, Prompt, TuningJob
from controller.model.catalogue import combination_problem
from controller.model.common import GENERATED_ID_PATTERN
from controller.model.suggest import did_you_mean

MAX_TEMPLATE_BYTES = 256 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024
_GENERATED_ID = re.compile(GENERATED_ID_PATTERN)


@dataclass(frozen=True)
class Located:
    """A validated manifest and where it came from."""

    manifest: Manifest
    file: str
    positions: Positions
    root: str = ""  # the manifests root files it names must stay in ("": the manifest's directory)

    @property
    def manifests_root(self) -> FsPath:
        """The directory `templateFile` / `responseFile` paths must stay inside."""
        return FsPath(self.root) if self.root else FsPath(self.file).parent

    def read_named_file(self, relative: str, *, limit: int) -> LocalFile:
        """Read a file this manifest names (relative to it, inside the root); raises FileRefusedError."""
        return read_local(relative, manifest_file=self.file, root=self.manifests_root, limit=limit)

    def at(self, path: Path, summary: str, *, key: bool = False, severity: Severity = Severity.ERROR) -> Diagnostic:
        """A diagnostic positioned at a field of this manifest."""
        line, col = self.positions.of_key(path) if key else self.positions.of_value(path)
        return Diagnostic(
            summary, Source(self.positions.file_of(path, self.file), line, col), format_path(path), severity
        )

    @property
    def label(self) -> str:
        """`Endpoint/support-chat` for messages."""
        return f"{self.manifest.kind}/{self.manifest.metadata.name}"


def check_generated_name(item: Located) -> Iterable[Diagnostic]:
    """A numeric name is the ID Vertex AI generated for an Endpoint or a Model made outside genaiops (an
    import); no other kind has one."""
    manifest = item.manifest
    name = manifest.metadata.name
    if _GENERATED_ID.match(name) and not isinstance(manifest, Endpoint | Model):
        yield item.at(
            ("metadata", "name"),
            f"{manifest.kind} name {name!r} is a number: only an imported Endpoint or Model may be named by the "
            "ID Vertex AI generated for it; use lowercase letters, digits and '-', starting with a letter",
        )


def check_endpoint(item: Located, endpoint: Endpoint) -> Iterable[Diagnostic]:
    """Deployment names unique; traffic names deployments and sums to 100; canary steps increase."""
    spec = endpoint.spec
    names: set[str] = set()
    for index, deployment in enumerate(spec.deployments):
        if deployment.name in names:
            yield item.at(("spec", "deployments", index, "name"), f"deployment name {deployment.name!r} repeats")
        names.add(deployment.name)
    yield from _check_machines(item, endpoint)
    for name in spec.traffic:
        if name not in names:
            known = ", ".join(sorted(names))
            yield item.at(
                ("spec", "traffic", name),
                f"traffic names unknown deployment {name!r} (have: {known}){did_you_mean(name, names)}",
                key=True,
            )
    total = sum(spec.traffic.values())
    if total != 100:
        yield item.at(("spec", "traffic"), f"traffic must sum to 100 (got {total})")
    previous = 0
    for index, step in enumerate(spec.rollout.steps):
        if step.weight <= previous:
            yield item.at(
                ("spec", "rollout", "steps", index, "weight"),
                f"step weights must increase strictly (step {index + 1} has {step.weight} after {previous})",
            )
        previous = step.weight


def _check_machines(item: Located, endpoint: Endpoint) -> Iterable[Diagnostic]:
    """Each deployment's machine type takes its accelerator, in that count (the catalogue's combinations)."""
    for index, deployment in enumerate(endpoint.spec.deployments):
        accelerator = deployment.accelerator
        mismatch = combination_problem(
            deployment.machine_type,
            accelerator.type if accelerator else None,
            accelerator.count if accelerator else 0,
        )
        if mismatch is None:
            continue
        base: Path = ("spec", "deployments", index)
        where: Path = (*base, "machineType")
        if mismatch.field == "type":
            where = (*base, "accelerator", "type")
        elif mismatch.field == "count":
            explicit = accelerator is not None and "count" in accelerator.model_fields_set
            where = (*base, "accelerator", "count") if explicit else (*base, "accelerator")
        yield item.at(where, mismatch.message)


def check_prompt(item: Located, prompt: Prompt) -> Iterable[Diagnostic]:
    """The template parses, uses exactly the declared variables, and its tests name known variables."""
    spec = prompt.spec
    source = spec.template
    where = item.file
    origin: Path = ("spec", "template")
    if spec.template_file is not None:
        origin = ("spec", "templateFile")
        try:
            found = item.read_named_file(spec.template_file, limit=MAX_TEMPLATE_BYTES)
        except FileRefusedError as err:
            yield item.at(origin, f"template file {spec.template_file!r} {err.reason}")
            return
        source, where = found.text, str(found.path)
    assert source is not None
    info = analyse(source)
    if info.error is not None:
        if spec.template_file is not None:
            yield Diagnostic(info.error, Source(where, info.error_line, 1), "")
        else:
            yield item.at(origin, f"{info.error} (template line {info.error_line})")
        return
    declared = set(spec.variables)
    for name in sorted(info.variables - declared):
        if spec.template_file is not None:
            line, col = first_use(source, name)
            yield Diagnostic(
                f"template uses undeclared variable {name!r}; declare it under spec.variables",
                Source(where, line, col),
                "",
            )
        else:
            yield item.at(origin, f"template uses undeclared variable {name!r}; declare it under spec.variables")
    for name in sorted(declared - info.variables):
        yield item.at(
            ("spec", "variables", name),
            f"variable {name!r} is declared but the template never uses it",
            key=True,
        )
    yield from _check_tests(item, prompt)


def _check_tests(item: Located, prompt: Prompt) -> Iterable[Diagnostic]:
    spec = prompt.spec
    names: set[str] = set()
    for index, test in enumerate(spec.tests):
        base: Path = ("spec", "tests", index)
        if test.name in names:
            yield item.at((*base, "name"), f"test name {test.name!r} repeats")
        names.add(test.name)
        for var in test.vars:
            if var not in spec.variables:
                yield item.at((*base, "vars", var), f"test sets undeclared variable {var!r}", key=True)
        for var, decl in spec.variables.items():
            if decl.required and decl.default is None and var not in test.vars:
                yield item.at((*base, "vars"), f"test does not set required variable {var!r}")
        if test.response_file is not None:
            try:
                item.read_named_file(test.response_file, limit=MAX_RESPONSE_BYTES)
            except FileRefusedError as err:
                yield item.at((*base, "responseFile"), f"response file {test.response_file!r} {err.reason}")


def check_set(items: list[Located], *, invalid: Collection[tuple[str, str]] = ()) -> Iterable[Diagnostic]:
    """Duplicate names per kind, references between manifests, and region consistency.

    `invalid` holds (kind, name) of manifests that were declared but failed validation: their own errors
    are reported already, so a reference to one is not reported again as 'unknown'."""
    seen: dict[tuple[str, str], Located] = {}
    models: dict[str, Model] = {}
    for item in items:
        key = (item.manifest.kind, item.manifest.metadata.name)
        first = seen.get(key)
        if first is not None:
            line, _ = first.positions.of_value(("metadata", "name"))
            yield item.at(("metadata", "name"), f"duplicate {item.label}: first declared at {first.file}:{line}")
            continue
        seen[key] = item
        if isinstance(item.manifest, Model):
            models[item.manifest.metadata.name] = item.manifest
    broken = {name for kind, name in invalid if kind in ("Model", "TuningJob", "Dataset", "Prompt")}
    tuned = {item.manifest.metadata.name for item in items if isinstance(item.manifest, TuningJob)}
    for name in sorted(tuned & set(models)):
        clash = next(i for i in items if isinstance(i.manifest, TuningJob) and i.manifest.metadata.name == name)
        yield clash.at(
            ("metadata", "name"), f"a Model is also named {name!r}: a prompt's `model: {name}` would be ambiguous"
        )
    for item in items:
        if isinstance(item.manifest, Endpoint):
            yield from _endpoint_refs(item, item.manifest, models, broken, tuned)
        elif isinstance(item.manifest, Prompt):
            yield from _prompt_refs(item, item.manifest, {*models, *tuned}, broken)


def _prompt_refs(item: Located, prompt: Prompt, models: set[str], broken: set[str]) -> Iterable[Diagnostic]:
    """`model` and `fallbackModel` name a declared Model or TuningJob (or a publisher model path)."""
    for field, ref in (("model", prompt.spec.model), ("fallbackModel", prompt.spec.fallback_model)):
        if ref is None or ref.startswith("publishers/"):
            continue
        name = ref.split("@", 1)[0]
        if name not in models and name not in broken:
            hint = did_you_mean(name, models)
            yield item.at(("spec", field), f"prompt refers to unknown Model or TuningJob {name!r}{hint}")


def _endpoint_refs(
    item: Located, endpoint: Endpoint, models: dict[str, Model], broken: set[str], tuned: set[str]
) -> Iterable[Diagnostic]:
    for index, deployment in enumerate(endpoint.spec.deployments):
        path: Path = ("spec", "deployments", index, "model")
        model = models.get(deployment.model_name)
        if model is None and deployment.model_name in broken:
            continue  # declared, but invalid: its own diagnostics say why
        if model is None and deployment.model_name in tuned:
            yield item.at(
                path,
                f"{deployment.model_name!r} is a TuningJob: Vertex AI serves a tuned Gemini model on its own "
                "endpoint, not on yours; name the TuningJob as a Prompt's model instead",
            )
            continue
        if model is None:
            registry = [name for name, m in models.items() if not m.spec.is_publisher]
            yield item.at(
                path,
                f"deployment refers to unknown Model {deployment.model_name!r}"
                f"{did_you_mean(deployment.model_name, registry)}",
            )
        elif model.spec.is_publisher and str(model.spec.publisher).startswith("publishers/google/models/gemini"):
            yield item.at(
                path,
                f"Model {deployment.model_name!r} is a publisher model: Google serves it, "
                "it cannot be deployed to an endpoint",
            )
        elif model.spec.is_publisher:
            yield item.at(
                path,
                f"Model {deployment.model_name!r} refers to publisher model {model.spec.publisher} without "
                "`deploy`: give it `deploy: {acceptEula: true}` (once you accept its licence) to register the open "
                "model so that endpoints can serve it",
            )
        elif model.spec.region != endpoint.spec.region:
            yield item.at(
                path,
                f"Model {deployment.model_name!r} is in {model.spec.region} but the endpoint is in "
                f"{endpoint.spec.region}; Vertex AI deploys only within one region",
            )
