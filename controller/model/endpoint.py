"""The `Endpoint` kind: deployments of registry models, the traffic split between them, and how a changed
deployment is rolled out (direct, a staged canary judged by analysis, or an A/B experiment between the
deployments at their fixed traffic weights, compared statistically by rollout/experiment.py)."""

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
from controller.model.experiment_settings import Experiment, canary_only_analysis_fields
from controller.model.metric_thresholds import PROMPT_METRICS
from controller.model.serving import (
    NETWORK_PATTERN,
    Autoscaling,
    Encryption,
    Explanation,
    PrivateServiceConnect,
    RequestResponseLogging,
    Reservation,
)

# A Model manifest's name (or the numeric ID of an imported model), then optionally @version or @alias.
MODEL_REF_RE = re.compile(
    r"^(?P<model>[a-z][a-z0-9-]{0,62}|[1-9][0-9]{0,18})(?:@(?P<version>[1-9][0-9]*|[a-z][a-zA-Z0-9-]*))?$"
)


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
    autoscaling: Autoscaling | None = Field(
        default=None, description="Autoscaling targets (changed in place, no new revision)."
    )
    spot: StrictBool = Field(
        default=False, description="Run the replicas on Spot VMs (dedicatedResources.spot; set at deploy only)."
    )
    reservation: Reservation | None = Field(
        default=None, description="Reservation affinity of the replicas (set at deploy only)."
    )
    explanation: Explanation | None = Field(
        default=None, description="Explanation parameters of this deployment (set at deploy only)."
    )

    @field_validator("machine_type")
    @classmethod
    def _known_machine_type(cls, value: str) -> str:
        return _known(machine_type_problem(value), value)

    @model_validator(mode="after")
    def _replicas_ordered(self) -> Deployment:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be at least minReplicas ({self.min_replicas})")
        return self

    @model_validator(mode="after")
    def _serving_fits_machine(self) -> Deployment:
        autoscaling = self.autoscaling
        if autoscaling is not None and autoscaling.accelerator_duty_cycle is not None and self.accelerator is None:
            # AutoscalingMetricSpec: with accelerator_count 0 "the autoscaling will be based on CPU utilization
            # metric only" (v1 DedicatedResources.autoscaling_metric_specs).
            raise ValueError(
                "autoscaling.acceleratorDutyCycle needs an accelerator: without GPUs or TPUs Vertex AI scales on "
                "CPU utilization only (give 'accelerator', or use cpuUtilization / requestsPerReplica)"
            )
        if self.spot and self.reservation is not None and self.reservation.type != "none":
            # Compute Engine, "Consume reservations": "You can't consume a reservation to create ... Spot VMs or
            # preemptible instances"; Vertex AI, "Use Spot VMs with inference": "All Spot VMs limitations apply".
            raise ValueError(
                f"spot: true cannot consume a reservation (reservation type {self.reservation.type!r}): Spot VMs never "
                "use reserved capacity; drop 'reservation' (or set its type to 'none'), or drop 'spot'"
            )
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
    """How a changed deployment (or prompt version) reaches production: at once (`direct`), in judged
    steps (`canary`), or side by side at fixed weights for a while, compared statistically (`experiment`)."""

    strategy: Literal["direct", "canary", "experiment"] = "direct"
    steps: tuple[Step, ...] = ()
    step_weight: StrictInt | None = Field(default=None, ge=1, le=100, description="Shorthand: weight per step.")
    max_weight: StrictInt | None = Field(default=None, ge=1, le=100, description="Shorthand: last step's weight.")
    interval: Duration | None = Field(default=None, description="Shorthand: pause between steps.")
    experiment: Experiment | None = Field(
        default=None, description="Strategy 'experiment' only: its duration, weight, control and autoPromote."
    )
    analysis: Analysis | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Rollout:
        shorthand = self.step_weight is not None or self.max_weight is not None or self.interval is not None
        if self.strategy != "experiment" and self.experiment is not None:
            raise ValueError(f"'experiment' settings apply only to strategy 'experiment' (this is {self.strategy!r})")
        if self.strategy == "direct":
            if self.steps or shorthand or self.analysis is not None:
                raise ValueError("strategy 'direct' takes no steps, stepWeight, maxWeight, interval or analysis")
            return self
        if self.strategy == "experiment":
            return self._experiment_consistent(shorthand=shorthand)
        if self.steps and shorthand:
            raise ValueError("give either 'steps' or the stepWeight/maxWeight/interval shorthand, not both")
        if not self.steps and self.step_weight is None:
            raise ValueError("strategy 'canary' needs 'steps' or 'stepWeight'")
        if self.step_weight is not None and self.max_weight is not None and self.step_weight > self.max_weight:
            raise ValueError(f"stepWeight ({self.step_weight}) exceeds maxWeight ({self.max_weight})")
        return self

    def _experiment_consistent(self, *, shorthand: bool) -> Rollout:
        if self.steps or shorthand:
            raise ValueError(
                "strategy 'experiment' keeps fixed weights: it takes no steps, stepWeight, maxWeight or interval "
                "(set experiment.duration, and experiment.weight for a prompt)"
            )
        if self.experiment is None:
            raise ValueError(
                "strategy 'experiment' needs 'experiment' settings, at least a duration: experiment: {duration: 24h}"
            )
        if self.analysis is None:
            raise ValueError("strategy 'experiment' needs 'analysis' with the metrics that compare the variants")
        canary_only = canary_only_analysis_fields(self.analysis)
        if canary_only:
            names = ", ".join(f"analysis.{name}" for name in canary_only)
            are, it = ("is a canary setting", "it") if len(canary_only) == 1 else ("are canary settings", "them")
            raise ValueError(
                f"{names} {are} (judging one window at a time); an experiment judges its whole duration at once: "
                f"remove {it} (experiment.minRequests sets the requests each variant needs)"
            )
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
    request_response_logging: RequestResponseLogging | None = Field(
        default=None, description="Log sampled requests and responses to BigQuery (changed in place)."
    )
    dedicated: StrictBool = Field(
        default=False,
        description="A dedicated endpoint (dedicatedEndpointEnabled: its own DNS name, no shared front end; "
        "set at create only).",
    )
    network: str | None = Field(
        default=None,
        pattern=NETWORK_PATTERN,
        description="A VPC network peered with Vertex AI (projects/NUMBER/global/networks/NAME; set at create "
        "only): the endpoint is then private to it.",
    )
    private_service_connect: PrivateServiceConnect | None = Field(
        default=None, description="Serve through Private Service Connect (set at create only)."
    )
    encryption: Encryption | None = Field(default=None, description="CMEK for the endpoint (set at create only).")
    deletion_policy: DeletionPolicy = "delete"
    suspend: StrictBool = Field(
        default=False, description="Pause reconciliation of this resource (plan and apply skip it)."
    )

    @property
    def variant_weights(self) -> dict[str, int]:
        """An experiment's variants: the deployments with traffic > 0, in the order listed, at their traffic."""
        return {d.name: self.traffic[d.name] for d in self.deployments if self.traffic.get(d.name, 0) > 0}

    @property
    def experiment_control(self) -> str | None:
        """An experiment's control: `experiment.control`, or the first deployment listed that carries
        traffic; None when the rollout is not an experiment or no deployment carries traffic."""
        settings = self.rollout.experiment
        if settings is None:
            return None
        if settings.control is not None:
            return settings.control
        return next(iter(self.variant_weights), None)

    @model_validator(mode="after")
    def _one_private_path(self) -> EndpointSpec:
        if self.network is not None and self.private_service_connect is not None:
            raise ValueError(
                "give either 'network' (VPC peering) or 'privateServiceConnect', not both: an endpoint is private "
                "through one of them"
            )
        if self.network is not None and self.dedicated:
            # "Choose an endpoint type" (Vertex AI docs, predictions/choose-endpoint-type): a dedicated public
            # endpoint takes requests from the internet on a dedicated plane; a private endpoint (VPC Network
            # Peering, `network`) is another type. One endpoint is one of them.
            raise ValueError(
                "'dedicated' (a dedicated public endpoint) and 'network' (a private endpoint over VPC peering) are "
                "two endpoint types: give one (for a private dedicated endpoint use 'privateServiceConnect')"
            )
        if self.network is not None and (len(self.deployments) > 1 or self.rollout.strategy != "direct"):
            # "Use private services access endpoints": "Only support one model per private endpoint", and
            # private endpoints "don't support traffic splitting" (predictions/using-private-endpoints).
            raise ValueError(
                "an endpoint on a VPC network ('network') serves one model and splits no traffic: give it one "
                "deployment and rollout strategy 'direct'"
            )
        return self

    @model_validator(mode="after")
    def _key_in_region(self) -> EndpointSpec:
        if self.encryption is None:
            return self
        location = self.encryption.kms_key_name.split("/")[3]
        if location != self.region:
            # EncryptionSpec.kmsKeyName: "The Cloud KMS key must be in the same region as the resource"
            # (Vertex AI REST reference, v1/EncryptionSpec).
            raise ValueError(
                f"encryption.kmsKeyName is a key in {location!r}, the endpoint is in {self.region!r}: Vertex AI "
                f"needs the Cloud KMS key in the endpoint's region (projects/P/locations/{self.region}/keyRings/...)"
            )
        return self

    @model_validator(mode="after")
    def _no_prompt_metrics(self) -> EndpointSpec:
        analyses = [self.rollout.analysis, *(step.analysis for step in self.rollout.steps)]
        for analysis in (a for a in analyses if a is not None):
            for metric in analysis.metrics:
                if metric.query is None and metric.name in PROMPT_METRICS:
                    raise ValueError(
                        f"metric {metric.name!r} is measured by the runtime client for prompts, not by Vertex AI "
                        "for an endpoint: use it in a Prompt's rollout, or give a custom 'query' here"
                    )
        return self

    @model_validator(mode="after")
    def _experiment_has_variants(self) -> EndpointSpec:
        settings = self.rollout.experiment
        if settings is None:
            return self
        if settings.auto_promote:
            raise ValueError(
                "rollout.experiment.autoPromote moves a prompt's label; an Endpoint's traffic is what its manifest "
                "says: when `genaiops experiment report` names a winner, change 'traffic' in git (remove "
                "autoPromote)"
            )
        if settings.weight is not None:
            raise ValueError(
                "rollout.experiment.weight is for prompts: an Endpoint experiment's variants keep the weights "
                f"'traffic' gives them ({_split(self.traffic)}); remove 'weight'"
            )
        variants = self.variant_weights
        if len(variants) < 2:
            raise ValueError(
                "an experiment compares deployments side by side: give at least two deployments traffic above 0 "
                f"(traffic: {_split(self.traffic)})"
            )
        control = self.experiment_control
        if control not in variants:
            names = {d.name for d in self.deployments}
            why = "carries no traffic" if control in names else "is not a deployment of this endpoint"
            raise ValueError(
                f"rollout.experiment.control {control!r} {why}; name one of the deployments with traffic: "
                f"{', '.join(variants)}"
            )
        return self


def _split(traffic: dict[str, int]) -> str:
    return "{" + ", ".join(f"{name}: {weight}" for name, weight in traffic.items()) + "}"


class Endpoint(Frozen):
    """A Vertex AI endpoint genaiops owns."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Endpoint"]
    metadata: Metadata
    spec: EndpointSpec
