"""The tuning kinds: `Dataset` (training or evaluation data, versioned by content), `TuningJob` (supervised
tuning of a Gemini base model on Vertex AI, with the evaluation gate a tuned model must pass before
anything may route to it) and `Pipeline` (a Vertex AI Pipelines run of a compiled KFP pipeline).

The heavy work runs on Vertex AI; genaiops only declares it. A TuningJob's identity is the hash of its spec
and its datasets' content hashes, so a change starts exactly one new job and an unchanged spec never
starts another; Prompt and Endpoint manifests name a TuningJob as their `model` to use the tuned model it
last produced and that passed its gate.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from controller.model.common import (
    NAME_PATTERN,
    DeletionPolicy,
    Frozen,
    Metadata,
    Region,
    StrictBool,
    StrictFloat,
    StrictInt,
)

DATASET_FORMATS = ("gemini-sft",)
ADAPTER_SIZES = (1, 2, 4, 8, 16, 32)
BUILTIN_SCORERS = ("exact-match", "rouge-l", "json-valid")
_SOURCE = r"^(gs://[a-z0-9][a-z0-9._-]{1,221}/.+|[^/\\:][^:]*)$"  # gs://bucket/object, or a relative path
_SCORER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
_BASE_MODEL = r"^(gemini-[a-z0-9.-]+|publishers/google/models/gemini-[a-z0-9.-]+)$"


class DatasetSpec(Frozen):
    """Where the data is and what it is."""

    source: str = Field(
        pattern=_SOURCE,
        description="A JSONL file under the manifests root (relative to this manifest; symlinks included), or "
        "gs://bucket/object. Its content hash is its version: a changed file is a new version, uploaded to the "
        "target's bucket under that hash (never overwritten).",
    )
    format: Literal["gemini-sft"] = Field(
        default="gemini-sft",
        description="gemini-sft: Gemini supervised tuning JSONL (systemInstruction, contents with alternating "
        "user/model roles and parts).",
    )
    description: str | None = None
    deletion_policy: DeletionPolicy = "retain"


class Dataset(Frozen):
    """Tuning or evaluation data, versioned by its content."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Dataset"]
    metadata: Metadata
    spec: DatasetSpec


class HyperParameters(Frozen):
    """Supervised tuning hyper-parameters (Vertex AI chooses what is left out)."""

    epochs: StrictInt | None = Field(default=None, ge=1, le=100, description="Passes over the training data.")
    learning_rate_multiplier: StrictFloat | None = Field(default=None, gt=0, le=100)
    adapter_size: StrictInt | None = Field(default=None, description=f"LoRA adapter size: one of {ADAPTER_SIZES}.")

    @field_validator("adapter_size")
    @classmethod
    def _known_adapter_size(cls, value: int | None) -> int | None:
        if value is not None and value not in ADAPTER_SIZES:
            raise ValueError(f"adapterSize must be one of {', '.join(map(str, ADAPTER_SIZES))} (got {value})")
        return value


class GateMetric(Frozen):
    """One metric of the evaluation gate, scored over the evaluation dataset (0..1 per example, averaged)."""

    name: str = Field(pattern=NAME_PATTERN)
    scorer: str | None = Field(
        default=None,
        description="A custom scorer `package.module:function(expected: str, answer: str) -> float` from an "
        "installed package the operator allowed (GENAIOPS_SCORERS, never a file of the manifests). Without it, "
        f"`name` is a built-in: {', '.join(BUILTIN_SCORERS)}.",
    )
    min: StrictFloat = Field(ge=0, le=1, description="The mean score (0..1) the tuned model must reach.")

    @model_validator(mode="after")
    def _known_scorer(self) -> GateMetric:
        if self.scorer is None and self.name not in BUILTIN_SCORERS:
            raise ValueError(
                f"unknown gate metric {self.name!r}: use one of {', '.join(BUILTIN_SCORERS)} or give a 'scorer'"
            )
        if self.scorer is not None and not _SCORER.fullmatch(self.scorer):
            raise ValueError(f"scorer {self.scorer!r} must be written package.module:function")
        return self


class Evaluation(Frozen):
    """The gate between a finished job and anything that may route traffic to its model."""

    prompts: tuple[str, ...] = Field(
        default=(), description="Prompt manifests whose tests run live against the tuned model: all must pass."
    )
    dataset: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="A Dataset (gemini-sft) whose examples' last model turn is the expected answer.",
    )
    metrics: tuple[GateMetric, ...] = ()
    max_examples: StrictInt = Field(
        default=200, ge=1, le=10_000, description="Evaluate on at most this many examples (the first ones)."
    )

    @model_validator(mode="after")
    def _something_to_check(self) -> Evaluation:
        if not self.prompts and self.dataset is None:
            raise ValueError("an evaluation needs 'prompts' to test, a 'dataset' to score, or both")
        if self.metrics and self.dataset is None:
            raise ValueError("evaluation 'metrics' are scored over a 'dataset': name one")
        if self.dataset is not None and not self.metrics:
            raise ValueError("an evaluation 'dataset' needs 'metrics' with their thresholds (e.g. rouge-l min 0.5)")
        return self


class TuningJobSpec(Frozen):
    """What a `TuningJob` declares."""

    region: Region = "us-central1"
    base_model: str = Field(pattern=_BASE_MODEL, description="The Gemini model to tune, e.g. gemini-3.5-flash.")
    training_dataset: str = Field(pattern=NAME_PATTERN, description="A Dataset manifest.")
    validation_dataset: str | None = Field(default=None, pattern=NAME_PATTERN, description="A Dataset manifest.")
    hyper_parameters: HyperParameters = Field(default_factory=HyperParameters)
    tuned_model_display_name: str | None = Field(default=None, max_length=128)
    description: str | None = None
    evaluation: Evaluation | None = Field(
        default=None,
        description="The gate a succeeded job's tuned model must pass before a Prompt or Endpoint may use it. "
        "Without one, the tuned model is accepted as soon as the job succeeds (plan says so).",
    )
    suspend: StrictBool = Field(default=False, description="Pause reconciliation of this resource.")

    @model_validator(mode="after")
    def _datasets_differ(self) -> TuningJobSpec:
        if self.validation_dataset is not None and self.validation_dataset == self.training_dataset:
            raise ValueError("validationDataset must differ from trainingDataset (split the data: genaiops data split)")
        return self


class TuningJob(Frozen):
    """Supervised tuning of a Gemini model on Vertex AI, gated by an evaluation."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["TuningJob"]
    metadata: Metadata
    spec: TuningJobSpec


class PipelineSpec(Frozen):
    """What a `Pipeline` declares: exactly one of `template` (compiled KFP IR) or `function`."""

    region: Region = "us-central1"
    template: str | None = Field(
        default=None,
        pattern=_SOURCE,
        description="A compiled KFP pipeline (IR YAML or JSON) under the manifests root.",
    )
    function: str | None = Field(
        default=None,
        description="`module:function` of a KFP 2 pipeline under the manifests root, compiled with kfp at plan "
        "time (code from the repository: only with --allow-code; needs `pip install genaiops[pipelines]`).",
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="Pipeline parameter values.")
    pipeline_root: str | None = Field(default=None, pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,221}(/.*)?$")
    service_account: str | None = Field(default=None, pattern=r"^[a-z0-9-]+@[a-z0-9.-]+$")
    schedule: str | None = Field(
        default=None,
        pattern=r"^(\S+\s+){4}\S+$",
        description="A cron schedule (five fields); without one, each spec change submits one run.",
    )
    description: str | None = None
    suspend: StrictBool = Field(default=False, description="Pause reconciliation of this resource.")

    @model_validator(mode="after")
    def _one_source(self) -> PipelineSpec:
        if (self.template is None) == (self.function is None):
            raise ValueError("a Pipeline needs exactly one of 'template' (compiled KFP IR) or 'function'")
        if self.function is not None and not _SCORER.fullmatch(self.function):
            raise ValueError(f"function {self.function!r} must be written module:function")
        return self


class Pipeline(Frozen):
    """A Vertex AI Pipelines run of a KFP pipeline, submitted once per spec change."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Pipeline"]
    metadata: Metadata
    spec: PipelineSpec


__all__ = [
    "ADAPTER_SIZES",
    "BUILTIN_SCORERS",
    "DATASET_FORMATS",
    "Dataset",
    "DatasetSpec",
    "Evaluation",
    "GateMetric",
    "HyperParameters",
    "Pipeline",
    "PipelineSpec",
    "TuningJob",
    "TuningJobSpec",
]
