"""The `Endpoint` kind: deployments of registry models, the traffic split between them, and how a changed
deployment is rolled out (direct, or a staged canary judged by analysis)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, field_validator, model_validator

from controller.model.analysis import Analysis
from controller.model.catalogue import accelerator_problem, machine_type_problem, vertex_catalogue
from controller.model.common import (
    DeletionPolicy,
    Duration,
    Frozen,
    Metadata,
    Region,
    StrictBool,
    StrictInt,
    check_duration,
)

MODEL_REF_RE = re.compile(r"^(?P<model>[a-z][a-z0-9-]{0,62})(?:@(?P<version>[1-9][0-9]*|[a-z][a-zA-Z0-9-]*))?$")


def split_model_ref(ref: str) -> tuple[str, str | None]:
    """`support-llm@3` -> ("support-llm", "3"); `support-llm` -> ("support-llm", None)."""
    match = MODEL_REF_RE.match(ref)
    if match is None:
        raise ValueError(f"invalid model reference {ref!r}")
    return match["model"], match["version"]


def _known(problem: str | None, value: str) -> str:
    if problem is not None:
        raise ValueError(problem)
    return value


class Accelerator(Frozen):
    """GPUs or TPUs attached to each replica: an AcceleratorType the machine type takes, in a count it takes."""

    type: str = Field(
        description="A Vertex AI AcceleratorType, such as NVIDIA_L4 or NVIDIA_TESLA_T4.",
        examples=["NVIDIA_L4", "NVIDIA_TESLA_T4"],
        json_schema_extra={"enum": list(vertex_catalogue().accelerators)},
    )
    count: StrictInt = Field(default=1, ge=1, le=16)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return _known(accelerator_problem(value), value)


class Deployment(Frozen):
    """One deployed model on the endpoint, identified by `name` (the DeployedModel display name)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    model: str = Field(
        pattern=MODEL_REF_RE.pattern,
        description="A Model manifest name, optionally with @version (e.g. @3) or @alias (e.g. @stable).",
    )
    machine_type: str = Field(
        default="n1-standard-4",
        description="A Vertex AI prediction machine type, such as n1-standard-4 or g2-standard-8 "
        f"(genaiops' catalogue of {vertex_catalogue().read_on}).",
        json_schema_extra={"enum": list(vertex_catalogue().machine_types)},
    )
    accelerator: Accelerator | None = None
    min_replicas: StrictInt = Field(default=1, ge=1, le=1000)
    max_replicas: StrictInt | None = Field(default=None, ge=1, le=1000)
    disable_container_logging: StrictBool = False
    service_account: str | None = None

    @field_validator("machine_type")
    @classmethod
    def _known_machine_type(cls, value: str) -> str:
        return _known(machine_type_problem(value), value)

    @model_validator(mode="after")
    def _replicas_ordered(self) -> Deployment:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be at least minReplicas ({self.min_replicas})")
        return self

    @property
    def model_name(self) -> str:
        """The Model manifest this deployment serves."""
        return split_model_ref(self.model)[0]

    @property
    def model_version(self) -> str | None:
        """The version number or alias after `@`, if any."""
        return split_model_ref(self.model)[1]


class Step(Frozen):
    """One canary step: move `weight`% of the deployment's share to the canary, then pause and analyse."""

    weight: StrictInt = Field(ge=1, le=100)
    pause: Duration | Literal["indefinite"] | None = Field(
        default=None, description="How long to hold the step; 'indefinite' waits for `rollout promote`."
    )
    analysis: Analysis | None = Field(default=None, description="Overrides the rollout's analysis here.")

    @field_validator("pause", mode="wrap")
    @classmethod
    def _one_pause_message(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """One clear message instead of one per alternative of the union."""
        try:
            return handler(value)
        except ValidationError:
            if isinstance(value, str) and value != "indefinite":
                try:
                    check_duration(value)  # a well-formed duration out of bounds: say which bound
                except ValueError as err:
                    if "too long" in str(err) or "too short" in str(err):
                        raise ValueError(str(err)) from None
            raise ValueError(
                f"pause must be a duration such as 30s, 5m or 1h, or 'indefinite' (got {value!r})"
            ) from None


class Rollout(Frozen):
    """How a changed deployment reaches production."""

    strategy: Literal["direct", "canary"] = "direct"
    steps: tuple[Step, ...] = ()
    step_weight: StrictInt | None = Field(default=None, ge=1, le=100, description="Shorthand: weight per step.")
    max_weight: StrictInt | None = Field(default=None, ge=1, le=100, description="Shorthand: last step's weight.")
    interval: Duration | None = Field(default=None, description="Shorthand: pause between steps.")
    analysis: Analysis | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Rollout:
        shorthand = self.step_weight is not None or self.max_weight is not None or self.interval is not None
        if self.strategy == "direct":
            if self.steps or shorthand or self.analysis is not None:
                raise ValueError("strategy 'direct' takes no steps, stepWeight, maxWeight, interval or analysis")
            return self
        if self.steps and shorthand:
            raise ValueError("give either 'steps' or the stepWeight/maxWeight/interval shorthand, not both")
        if not self.steps and self.step_weight is None:
            raise ValueError("strategy 'canary' needs 'steps' or 'stepWeight'")
        if self.step_weight is not None and self.max_weight is not None and self.step_weight > self.max_weight:
            raise ValueError(f"stepWeight ({self.step_weight}) exceeds maxWeight ({self.max_weight})")
        return self


class EndpointSpec(Frozen):
    """What an `Endpoint` declares."""

    region: Region = "us-central1"
    display_name: str | None = Field(default=None, max_length=128)
    description: str | None = None
    deployments: tuple[Deployment, ...] = Field(min_length=1)
    traffic: dict[str, Annotated[StrictInt, Field(ge=0, le=100)]] = Field(
        description="Percent of traffic per deployment name; integers summing to 100."
    )
    rollout: Rollout = Field(default_factory=Rollout)
    deletion_policy: DeletionPolicy = "delete"
    suspend: StrictBool = Field(
        default=False, description="Pause reconciliation of this resource (plan and apply skip it)."
    )


class Endpoint(Frozen):
    """A Vertex AI endpoint genaiops owns."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Endpoint"]
    metadata: Metadata
    spec: EndpointSpec
