"""Content-addressed prompt versions: what a published version holds and how its id is computed.

A version id is the first 16 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces) of
the content: template, system instruction, model, generation config and declared variables, and
`vertexModel`, the Vertex AI model the manifests resolved `model` to (`models.py`), when it says more
than `model` does. Anything else (when, who, which commit, which file) is provenance: recorded, never
hashed, so the same prompt published twice, from two machines or two commits, is the same version.

`vertexModel` joined the content later: it is hashed only when present and different from `model`, so
every version stored before keeps its id (and reads back), and a prompt naming a publisher model directly
keeps its id; a prompt naming a Model manifest gets one new version, which records what it runs on (a
changed Model manifest now changes the prompt's version too). Pure.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.model import Variable
from controller.prompts.source import PromptSource

SCHEMA = "genaiops.dev/prompt-version/v1"
ID_LENGTH = 16
# What the runtime client reads (controller/runtime); hashed like vertexModel: only when set, so versions
# that set none keep their ids. fallbackVertexModel is fallbackModel resolved like vertexModel.
RUNTIME_KEYS = ("fallbackModel", "fallbackVertexModel", "safetySettings", "cache", "safety", "endpointApi")


@dataclass(frozen=True)
class Provenance:
    """Who published a version, when and from which commit (not part of its id)."""

    created: str = ""
    commit: str = ""
    author: str = ""
    source: str = ""


@dataclass(frozen=True)
class PromptVersion:
    """One immutable version of a prompt, as stored at `prompts/<name>/versions/<id>.json`."""

    name: str
    template: str
    model: str
    system_instruction: str | None = None
    generation_config: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    vertex_model: str = ""  # the resolved Vertex AI model; "" in versions published before it was recorded
    runtime: Mapping[str, Any] = field(default_factory=dict)  # the RUNTIME_KEYS a manifest sets (camelCase JSON)

    def content(self) -> dict[str, Any]:
        """The hashed part."""
        content: dict[str, Any] = {
            "template": self.template,
            "systemInstruction": self.system_instruction,
            "model": self.model,
            "generationConfig": dict(self.generation_config),
            "variables": {k: dict(v) for k, v in self.variables.items()},
        }
        if self.vertex_model and self.vertex_model != self.model:
            content["vertexModel"] = self.vertex_model
        content.update({k: self.runtime[k] for k in RUNTIME_KEYS if self.runtime.get(k) not in (None, "", {}, [])})
        return content

    @property
    def runs_on(self) -> str:
        """The Vertex AI model (project-relative for registry models), or `model` in a version that did not
        record one."""
        return self.vertex_model or self.model

    @functools.cached_property
    def id(self) -> str:
        """The content address (computed once per instance: the runtime client reads it on every request)."""
        return content_id(self.content())

    def declared(self) -> dict[str, Variable]:
        """The variable declarations as model objects (for checking values before rendering)."""
        return {name: Variable.model_validate(decl) for name, decl in self.variables.items()}

    def to_json(self) -> dict[str, Any]:
        """The stored document."""
        p = self.provenance
        return {
            "schema": SCHEMA,
            "name": self.name,
            "version": self.id,
            **self.content(),
            "created": p.created,
            "commit": p.commit,
            "author": p.author,
            "source": p.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromptVersion:
        """Read a stored document; ValueError when it is not one or its content does not match its id."""
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            raise ValueError(f"not a genaiops prompt version (schema {SCHEMA!r} expected)")
        try:
            version = cls(
                name=str(data["name"]),
                template=str(data["template"]),
                model=str(data["model"]),
                system_instruction=data.get("systemInstruction"),
                generation_config=dict(data.get("generationConfig") or {}),
                variables={k: dict(v) for k, v in (data.get("variables") or {}).items()},
                vertex_model=str(data.get("vertexModel") or ""),
                runtime={k: data[k] for k in RUNTIME_KEYS if data.get(k) not in (None, "", {}, [])},
                provenance=Provenance(
                    created=str(data.get("created", "")),
                    commit=str(data.get("commit", "")),
                    author=str(data.get("author", "")),
                    source=str(data.get("source", "")),
                ),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"malformed prompt version: {err!r}") from err
        if data.get("version") != version.id:
            raise ValueError(f"content does not match its id {data.get('version')!r} (computed {version.id})")
        return version


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_id(content: Mapping[str, Any]) -> str:
    """The id of some content."""
    return hashlib.sha256(canonical(content)).hexdigest()[:ID_LENGTH]


def version_of(source: PromptSource, provenance: Provenance | None = None) -> PromptVersion:
    """The version a manifest declares (its id depends on the content only)."""
    spec = source.prompt.spec
    variables = {
        name: decl.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        for name, decl in spec.variables.items()
    }
    return PromptVersion(
        name=source.name,
        template=source.template,
        model=spec.model,
        system_instruction=spec.system_instruction,
        generation_config=spec.generation_config.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        variables=variables,
        provenance=provenance or Provenance(source=source.manifest_file),
        vertex_model=source.vertex_model,
        runtime=_runtime_of(source),
    )


def _runtime_of(source: PromptSource) -> dict[str, Any]:
    """The runtime settings the manifest sets (defaults left out, so they never change an id)."""
    spec = source.prompt.spec
    runtime = spec.model_dump(
        mode="json",
        by_alias=True,
        exclude_defaults=True,
        include={"fallback_model", "safety_settings", "cache", "safety"},
    )
    if source.fallback_vertex_model and source.fallback_vertex_model != spec.fallback_model:
        runtime["fallbackVertexModel"] = source.fallback_vertex_model
    if source.api is not None:  # a tuned Gemini endpoint (GenerateContent), open chat models (chat completions)
        runtime["endpointApi"] = source.api
    return runtime
