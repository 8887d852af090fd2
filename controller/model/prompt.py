"""The `Prompt` kind: a versioned prompt template with declared variables, the model it targets, its
generation config, and tests that check recorded (or live) responses."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from controller.model.common import DeletionPolicy, Frozen, Metadata, StrictBool, StrictFloat, StrictInt
from controller.model.endpoint import Rollout
from controller.model.prompt_runtime import CachePolicy, PromptSafety, SafetySetting

MODEL_REF_PATTERN = r"^([a-z][a-z0-9-]{0,62}(@[a-zA-Z0-9-]+)?|publishers/[a-z0-9-]+/models/[a-zA-Z0-9._@-]+)$"
VariableType = Literal["string", "integer", "number", "boolean", "array", "object"]
AssertionType = Literal[
    "contains",
    "icontains",
    "not-contains",
    "regex",
    "equals",
    "is-json",
    "json-schema",
    "max-length",
    "max-tokens",
]
_NEEDS_STRING = ("contains", "icontains", "not-contains", "regex", "equals")
_NEEDS_INT = ("max-length", "max-tokens")


class Variable(Frozen):
    """A declared template variable (a JSON-Schema subset)."""

    type: VariableType = "string"
    description: str | None = None
    default: Any = None
    required: StrictBool = True
    enum: tuple[str | int | float | bool, ...] | None = None
    max_length: StrictInt | None = Field(default=None, ge=1)


class GenerationConfig(Frozen):
    """Sampling settings sent with each request."""

    temperature: StrictFloat | None = Field(default=None, ge=0, le=2)
    max_output_tokens: StrictInt | None = Field(default=None, ge=1, le=65536)
    top_p: StrictFloat | None = Field(default=None, ge=0, le=1)
    top_k: StrictInt | None = Field(default=None, ge=1, le=1000)
    stop_sequences: tuple[str, ...] = Field(default=(), max_length=16)
    response_mime_type: Literal["text/plain", "application/json"] | None = None
    response_schema: dict[str, Any] | None = None


class Assertion(Frozen):
    """A deterministic check on a response."""

    type: AssertionType
    value: Any = None

    @model_validator(mode="after")
    def _value_matches_type(self) -> Assertion:
        if self.type in _NEEDS_STRING and not isinstance(self.value, str):
            raise ValueError(f"assertion {self.type!r} needs a string 'value' (got {self.value!r})")
        if self.type in _NEEDS_INT and (
            isinstance(self.value, bool) or not isinstance(self.value, int) or self.value < 1
        ):
            raise ValueError(f"assertion {self.type!r} needs a positive integer 'value' (got {self.value!r})")
        if self.type == "json-schema" and not isinstance(self.value, dict):
            raise ValueError("assertion 'json-schema' needs a JSON Schema object as 'value'")
        if self.type == "is-json" and self.value is not None:
            raise ValueError("assertion 'is-json' takes no 'value'")
        if self.type == "regex":
            import re

            try:
                re.compile(self.value)
            except re.error as err:
                raise ValueError(f"invalid regular expression: {err}") from err
        return self


class PromptTest(Frozen):
    """A test case: variables to render with, the response to check, and the assertions."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    vars: dict[str, Any] = Field(default_factory=dict)
    response: str | None = Field(default=None, description="A recorded response, checked offline.")
    response_file: str | None = Field(
        default=None,
        description="A file with the recorded response: a path relative to the manifest that stays inside the "
        "manifests root (symlinks included), a regular file of at most 1 MiB.",
    )
    assertions: tuple[Assertion, ...] = Field(alias="assert", min_length=1)

    @model_validator(mode="after")
    def _one_response(self) -> PromptTest:
        if self.response is not None and self.response_file is not None:
            raise ValueError("give either 'response' or 'responseFile', not both")
        return self


class PromptSpec(Frozen):
    """What a `Prompt` declares: exactly one of `template` or `templateFile`."""

    description: str | None = None
    model: str = Field(
        pattern=MODEL_REF_PATTERN,
        description="A Model manifest name (optionally @version) or a publisher model path.",
    )
    fallback_model: str | None = Field(
        default=None,
        pattern=MODEL_REF_PATTERN,
        description="A model the runtime client calls when `model` fails after its retries (same syntax as model).",
    )
    template: str | None = None
    template_file: str | None = Field(
        default=None,
        description="A file with the template: a path relative to the manifest that stays inside the manifests "
        "root (the directory given to genaiops; symlinks included), a regular file of at most 256 KiB.",
    )
    system_instruction: str | None = None
    variables: dict[str, Variable] = Field(default_factory=dict)
    generation_config: GenerationConfig = Field(default_factory=GenerationConfig)
    safety_settings: tuple[SafetySetting, ...] = Field(
        default=(), max_length=16, description="Gemini safety settings sent with each request."
    )
    cache: CachePolicy = Field(default_factory=CachePolicy, description="The runtime client's response cache.")
    safety: PromptSafety = Field(
        default_factory=PromptSafety, description="Input validation, PII redaction and output filters."
    )
    labels: tuple[str, ...] = Field(
        default=(), description="Environments this version is released to, such as production or staging."
    )
    tests: tuple[PromptTest, ...] = ()
    rollout: Rollout = Field(
        default_factory=Rollout,
        description="How a changed version reaches the labels: 'direct' moves them at once; 'canary' routes a "
        "growing share of each label's requests to the new version (sticky by the application's routing key), "
        "judged on the runtime client's metrics, and moves the label only when the analysis passes.",
    )
    deletion_policy: DeletionPolicy = "delete"
    suspend: StrictBool = Field(
        default=False, description="Pause reconciliation of this resource (plan and apply skip it)."
    )

    @model_validator(mode="after")
    def _one_template(self) -> PromptSpec:
        if (self.template is None) == (self.template_file is None):
            raise ValueError("a Prompt needs exactly one of 'template' or 'templateFile'")
        return self

    @model_validator(mode="after")
    def _rollout_fits_a_prompt(self) -> PromptSpec:
        strategy = self.rollout.strategy
        if strategy != "direct" and not self.labels:
            article = "an" if strategy == "experiment" else "a"
            raise ValueError(f"{article} {strategy} rollout moves labels: list the labels it applies to in 'labels'")
        if self.rollout.experiment is not None and self.rollout.experiment.control is not None:
            raise ValueError(
                "rollout.experiment.control names an Endpoint's deployment; a Prompt's control is the version its "
                "label points at now: remove 'control'"
            )
        analyses = [self.rollout.analysis, *(step.analysis for step in self.rollout.steps)]
        for metric in (m for a in analyses if a is not None for m in a.metrics):
            if metric.from_vertex:
                raise ValueError(
                    f"metric {metric.name!r} has source: vertex, which reads a deployed model's metrics; a Prompt's "
                    "versions are not deployed models: remove 'source' (the runtime client measures its streams)"
                )
        return self

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, Variable]) -> dict[str, Variable]:
        for name in variables:
            if not name.isidentifier():
                raise ValueError(
                    f"variable name {name!r} must be a valid identifier (letters, digits and '_', not starting "
                    "with a digit) so templates can use it"
                )
        return variables

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        for label in labels:
            if not label or not label.replace("-", "").isalnum() or not label[0].isalpha():
                raise ValueError(f"label {label!r} must be letters, digits and '-', starting with a letter")
        return labels


class Prompt(Frozen):
    """A prompt template genaiops versions and publishes."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Prompt"]
    metadata: Metadata
    spec: PromptSpec
