"""The rest of the Vertex AI serving spec an Endpoint manifest can declare: autoscaling targets, Spot VMs,
reservations and explanations per deployment; request-response logging, dedicated endpoints, a VPC network
or Private Service Connect, and CMEK per endpoint.

Each field maps to one field of the v1 API (named in its description). Which of them Vertex AI can change
on a live resource decides how a change is planned (plans/endpoint_plan.py): autoscaling targets change in
place (MutateDeployedModel), request-response logging in place (UpdateEndpoint); Spot, reservation and
explanation are set only by DeployModel, so changing them is a new revision rolled out like a new model
version (through the canary); the network, Private Service Connect, dedicated endpoint and encryption are set
only by CreateEndpoint, so a change to them on a live endpoint is refused with a diagnostic (genaiops never
deletes an endpoint that serves to re-create it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from controller.model.common import Frozen, StrictBool, StrictFloat, StrictInt

# AutoscalingMetricSpec.metric_name values for online prediction (v1 API reference of AutoscalingMetricSpec).
CPU_UTILIZATION = "aiplatform.googleapis.com/prediction/online/cpu/utilization"
ACCELERATOR_DUTY_CYCLE = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
REQUEST_COUNT = "aiplatform.googleapis.com/prediction/online/request_count"


class Autoscaling(Frozen):
    """Targets the autoscaler keeps each replica at (`dedicatedResources.autoscalingMetricSpecs`); Vertex AI
    defaults to 60% CPU (and 60% duty cycle with accelerators) when none is given. Changed in place."""

    cpu_utilization: StrictInt | None = Field(
        default=None, ge=1, le=100, description=f"Target CPU utilization in percent ({CPU_UTILIZATION})."
    )
    accelerator_duty_cycle: StrictInt | None = Field(
        default=None,
        ge=1,
        le=100,
        description=f"Target GPU/TPU duty cycle in percent ({ACCELERATOR_DUTY_CYCLE}); needs an accelerator.",
    )
    requests_per_replica: StrictInt | None = Field(
        default=None, ge=1, description=f"Target requests per replica ({REQUEST_COUNT})."
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Autoscaling:
        if self.cpu_utilization is None and self.accelerator_duty_cycle is None and self.requests_per_replica is None:
            raise ValueError(
                "autoscaling needs at least one target: cpuUtilization, acceleratorDutyCycle or requestsPerReplica"
            )
        return self

    def metric_specs(self) -> tuple[tuple[str, int], ...]:
        """(API metric name, target) pairs, sorted by name: the value the API carries."""
        pairs = (
            (CPU_UTILIZATION, self.cpu_utilization),
            (ACCELERATOR_DUTY_CYCLE, self.accelerator_duty_cycle),
            (REQUEST_COUNT, self.requests_per_replica),
        )
        return tuple(sorted((name, target) for name, target in pairs if target is not None))


class Reservation(Frozen):
    """Which Compute Engine reservation the replicas consume (`machineSpec.reservationAffinity`). Set at
    deploy only: a change is a new revision."""

    type: Literal["any", "specific", "none"] = Field(
        description="any: ANY_RESERVATION; specific: SPECIFIC_RESERVATION (needs key and values); none: NO_RESERVATION."
    )
    key: str | None = Field(
        default=None,
        description="The label key of the reservation, compute.googleapis.com/reservation-name for a named one.",
    )
    values: tuple[str, ...] = Field(
        default=(), description="Reservation names (projects/P/zones/Z/reservations/R) for the key."
    )

    @model_validator(mode="after")
    def _specific_names_one(self) -> Reservation:
        if self.type == "specific" and (not self.key or not self.values):
            raise ValueError("reservation type 'specific' needs 'key' and at least one of 'values'")
        if self.type != "specific" and (self.key or self.values):
            raise ValueError(f"reservation type {self.type!r} takes no 'key' or 'values' (only 'specific' does)")
        return self


class Explanation(Frozen):
    """Feature attributions for this deployment (`deployedModel.explanationSpec.parameters`); fields left
    out are inherited from the Model's explanation spec. Set at deploy only: a change is a new revision."""

    method: Literal["sampled-shapley", "integrated-gradients", "xrai"]
    path_count: StrictInt | None = Field(default=None, ge=1, le=50, description="sampled-shapley: paths.")
    step_count: StrictInt | None = Field(
        default=None, ge=1, le=100, description="integrated-gradients and xrai: steps."
    )
    top_k: StrictInt | None = Field(default=None, ge=1, description="Return the top k attributions only.")

    @model_validator(mode="after")
    def _counts_fit_method(self) -> Explanation:
        if self.method == "sampled-shapley":
            if self.path_count is None or self.step_count is not None:
                raise ValueError("explanation method 'sampled-shapley' needs 'pathCount' (and takes no 'stepCount')")
        elif self.step_count is None or self.path_count is not None:
            raise ValueError(f"explanation method {self.method!r} needs 'stepCount' (and takes no 'pathCount')")
        return self


class RequestResponseLogging(Frozen):
    """Log a sample of requests and responses to BigQuery (`endpoint.predictRequestResponseLoggingConfig`).
    Changed in place."""

    enabled: StrictBool = True
    sampling_rate: StrictFloat = Field(default=1.0, gt=0, le=1, description="Fraction of requests logged.")
    bigquery_table: str | None = Field(
        default=None,
        pattern=r"^bq://[a-z][a-z0-9-]{4,28}[a-z0-9](\.[A-Za-z0-9_]{1,1024}){1,2}$",
        description="bq://PROJECT.DATASET[.TABLE]; Vertex AI creates the table when only a dataset is given.",
    )


class PrivateServiceConnect(Frozen):
    """Serve the endpoint through Private Service Connect (`endpoint.privateServiceConnectConfig`). Set at
    create only."""

    project_allowlist: tuple[str, ...] = Field(
        default=(), description="Projects allowed to connect to the endpoint's service attachment."
    )


class Encryption(Frozen):
    """Customer-managed encryption key for the endpoint (`endpoint.encryptionSpec.kmsKeyName`). Set at create
    only."""

    kms_key_name: str = Field(
        pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
        description="projects/P/locations/L/keyRings/R/cryptoKeys/K, in the endpoint's region.",
    )


NETWORK_PATTERN = r"^projects/[0-9]{1,19}/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
