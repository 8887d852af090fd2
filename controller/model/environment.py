"""The `Environment` kind: one manifest tree, several targets (dev, staging, prod), like kustomize overlays.

An Environment names where its resources live (project, region, the apply lease's bucket, the prompt store)
and how its manifests differ from the base: labels added to every manifest, a budget, and `patches`, each a
partial manifest merged over the base manifests it targets (a strategic merge: mappings merge key by key,
lists of named items merge by `name`, other lists and scalars replace, `null` removes a key and an item
`{name: x, $patch: delete}` removes a list item). `--env NAME` selects one; `validate` checks every one.

`Override` records where a merged value came from, for `plan --env` and `genaiops env show`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from controller.model.budget import BudgetSpec
from controller.model.common import Frozen, Labels, Metadata, Region

PROJECT_PATTERN = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
PatchKind = Literal[
    "Endpoint",
    "Model",
    "Prompt",
    "Dataset",
    "TuningJob",
    "Pipeline",
    "Budget",
    "PriceBook",
    "Alert",
    "NotificationChannel",
]


class PatchTarget(Frozen):
    """Which base manifests a patch applies to: every manifest of `kind`, or the one named `name`."""

    kind: PatchKind
    name: str | None = Field(default=None, description="A manifest's metadata.name; all of the kind when omitted.")


class Patch(Frozen):
    """A partial manifest (its `metadata` and/or `spec`) merged over the target's base manifest."""

    target: PatchTarget
    patch: dict[str, Any] = Field(
        description="metadata and/or spec to merge: mappings merge, lists of named items merge by name, other "
        "values replace; null removes a key; {name: x, $patch: delete} removes a list item."
    )


class EnvironmentSpec(Frozen):
    """Where an environment's resources live and how its manifests differ from the base."""

    description: str | None = None
    project: str | None = Field(
        default=None, pattern=PROJECT_PATTERN, description="The Google Cloud project (a project ID)."
    )
    region: Region | None = Field(default=None, description="The region of manifests that name none.")
    lock_bucket: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$", description="The apply lease's bucket."
    )
    prompt_store: str | None = Field(
        default=None, description="Where prompts are published: gs://BUCKET[/PREFIX] (or a directory)."
    )
    labels: Labels = Field(default_factory=dict, description="Labels added to every manifest of the environment.")
    budget: BudgetSpec | None = Field(
        default=None, description="The environment's budget: as a Budget manifest's spec, checked by plan."
    )
    patches: tuple[Patch, ...] = ()


class Environment(Frozen):
    """A deployment target of the same manifests: `--env NAME` on every command."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Environment"]
    metadata: Metadata
    spec: EnvironmentSpec


@dataclass(frozen=True)
class Override:
    """One value an environment set on a manifest: where it came from, for `plan --env` and `env show`.
    `path` is the field path in the merged manifest (`spec.deployments[primary].minReplicas`); `file`,
    `line` and `column` are the value's position in the environment file."""

    kind: str
    name: str
    path: str
    value: Any
    file: str
    line: int
    column: int

    @property
    def origin(self) -> str:
        """`manifests/environments/prod.yaml:14:11`."""
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file
