"""Prompts for `genaiops import`: a prompt in the store that no manifest declares -> a Prompt manifest and
its template file, describing the stored version the most labels point at (with those labels), checked to
be that very version: the content address the written manifest would publish is the stored version's id,
so it plans to no changes. Labels pointing at other versions are left where they are (a Prompt manifest
moves only the labels it lists). Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.engine.import_render import CannotImportError, Draft, envelope, file_name, plain, render, validated
from controller.model import Manifest, Model, Prompt, TuningJob
from controller.prompts.index import PromptIndex
from controller.prompts.models import vertex_model
from controller.prompts.prompt_plan import REGION as PROMPT_REGION
from controller.prompts.source import PromptSource
from controller.prompts.version import PromptVersion, version_of


@dataclass(frozen=True)
class StoredPrompt:
    """A prompt in the store: its index and the version import describes (`chosen_version`)."""

    index: PromptIndex
    version: PromptVersion


def chosen_version(index: PromptIndex) -> str | None:
    """The version a Prompt manifest describes: the one most labels point at (the newest on a tie), else
    the newest published; None when nothing is published."""
    order = [e.version for e in index.versions]
    counts = Counter(v for v in index.labels.values() if v in order)
    if counts:
        return max(counts, key=lambda v: (counts[v], order.index(v)))
    return order[-1] if order else None


def _model_names(manifests: Sequence[Manifest]) -> set[str]:
    return {m.metadata.name for m in manifests if isinstance(m, Model | TuningJob)}


def prompt_document(stored: StoredPrompt, *, template_file: str) -> dict[str, Any]:
    """The Prompt manifest of a stored version (its template in `template_file`), with the labels that
    point at it."""
    version = stored.version
    runtime = version.runtime
    spec: dict[str, Any] = {"model": version.model}
    if runtime.get("fallbackModel"):
        spec["fallbackModel"] = runtime["fallbackModel"]
    spec["templateFile"] = template_file
    if version.system_instruction is not None:
        spec["systemInstruction"] = version.system_instruction
    if version.variables:
        spec["variables"] = {name: dict(decl) for name, decl in version.variables.items()}
    if version.generation_config:
        spec["generationConfig"] = dict(version.generation_config)
    for key in ("safetySettings", "cache", "safety"):
        if runtime.get(key) not in (None, "", {}, []):
            spec[key] = runtime[key]
    labels = sorted(label for label, at in stored.index.labels.items() if at == version.id)
    if labels:
        spec["labels"] = labels
    return envelope("Prompt", version.name, {}, spec)


def prompt_draft(stored: StoredPrompt, *, manifests: Sequence[Manifest]) -> Draft:
    """A Prompt manifest and its template file, checked to name the very version stored (the content
    address the manifests would publish is the stored version's id); CannotImportError otherwise."""
    version = stored.version
    ref = version.model
    if not ref.startswith("publishers/") and ref.split("@", 1)[0] not in _model_names(manifests):
        raise CannotImportError(
            f"its model {ref!r} is not a Model or TuningJob any manifest declares: declare (or import) it, then "
            "import again"
        )
    template_file = f"prompt-{version.name}.j2"
    document = prompt_document(stored, template_file=template_file)
    validated(Prompt, document)
    prompt = Prompt.model_validate(plain(document))
    fallback = prompt.spec.fallback_model
    source = PromptSource(
        prompt,
        manifest_file=file_name("Prompt", PROMPT_REGION, version.name),
        template=version.template,
        template_file=template_file,
        template_line=1,
        vertex_model=vertex_model(prompt.spec.model, manifests),
        fallback_vertex_model=vertex_model(fallback, manifests) if fallback else "",
    )
    described = version_of(source)
    if described.id != version.id:
        ours, theirs = described.content(), version.content()
        differ = sorted(k for k in {*ours, *theirs} if ours.get(k) != theirs.get(k))
        raise CannotImportError(
            f"a manifest would publish version {described.id}, not the stored {version.id} (they differ in "
            f"{', '.join(differ)}: the stored version was published from manifests that resolved its model "
            "differently); declare it by hand"
        )
    others = sorted((lb, at) for lb, at in stored.index.labels.items() if at != version.id)
    notes = tuple(f"label {lb} points at version {at}, not the imported one: left where it is" for lb, at in others)
    manifest = render(document, header=f"Written by `genaiops import` from prompt {version.name} ({version.id}).")
    return Draft(
        "Prompt",
        PROMPT_REGION,
        version.name,
        document,
        ((file_name("Prompt", PROMPT_REGION, version.name), manifest), (template_file, version.template)),
        notes,
    )
