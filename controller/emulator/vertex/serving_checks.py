"""The Vertex AI serving spec as the real EndpointService validates it: machines and replicas, autoscaling
metrics, Spot, reservations and explanation parameters of a DeployedModel; request-response logging, the
VPC network, Private Service Connect, dedicated endpoints and CMEK of an Endpoint.

Called by `endpoints.py` on the raw protobuf messages when a request arrives, so a bad value reaches the
caller as INVALID_ARGUMENT with a message naming the field (`deployed_model.dedicated_resources...`).
Every rule cites where Vertex AI states it: the v1 proto docstrings installed with google-cloud-aiplatform
(`aiplatform_v1/types/*.py`) or Google's docs. Where they are silent the value is accepted: an emulator
stricter than the cloud would make the controller refuse what Vertex AI allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from controller.emulator.vertex import common as c
from controller.model.catalogue import machine_spec_problem
from controller.model.serving import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, REQUEST_COUNT

# AutoscalingMetricSpec.metric_name: "Supported metrics: For Online Prediction: .../accelerator/duty_cycle,
# .../cpu/utilization, .../request_count" (types/machine_resources.py, AutoscalingMetricSpec).
AUTOSCALING_METRICS = (ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, REQUEST_COUNT)
# AutoscalingMetricSpec.target: "target resource utilization in percentage (1% - 100%) ... default 60 if not
# provided" -- a percentage for the two utilization metrics. For request_count the target is a count of
# requests per replica (docs: predictions/autoscaling), for which no upper bound is documented.
_PERCENT_METRICS = frozenset({ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION})

# Endpoint fields set only by CreateEndpoint. network and encryption_spec are immutable and
# private_service_connect_config.enable_private_service_connect too in Google's own Terraform resource
# (magic-modules mmv1/products/vertexai/Endpoint.yaml: `immutable: true`); gcloud's `ai endpoints update`
# offers none of them; and Google's dedicated-endpoint guide has the endpoint type chosen when it is created
# ("Create a dedicated public endpoint ... at the time of endpoint creation", predictions/using-dedicated-
# endpoints). The v1 proto marks none of them as updatable.
CREATE_ONLY = (
    "dedicated_endpoint_enabled",
    "enable_private_service_connect",
    "encryption_spec",
    "network",
    "private_service_connect_config",
)
LOGGING_CONFIG = "predict_request_response_logging_config"

# Endpoint.network: "Format: projects/{project}/global/networks/{network}. Where {project} is a project
# number, as in 12345, and {network} is network name" (types/endpoint.py).
_NETWORK = re.compile(r"^projects/[0-9]+/global/networks/[^/]+$")
# EncryptionSpec.kms_key_name: "Has the form: projects/my-project/locations/my-region/keyRings/my-kr/
# cryptoKeys/my-key. The key needs to be in the same region as where the compute resource is created."
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
# BigQueryDestination.output_uri: "BigQuery URI to a project or table, up to 2000 characters long ...
# Accepted forms: bq://projectId or bq://projectId.bqDatasetId or bq://projectId.bqDatasetId.bqTableId"
# (types/io.py). Project ids may be domain-scoped (example.com:proj), so the parts are not split here.
_BQ_URI = re.compile(r"^bq://[^\s/]+$")
_BQ_URI_MAX = 2000
# ReservationAffinity.key: "To target a SPECIFIC_RESERVATION by name, use compute.googleapis.com/
# reservation-name as the key"; values: "This must be the full resource name of the reservation"
# (types/reservation_affinity.py) -- projects/P/zones/Z/reservations/R (Compute Engine's reservation name).
RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"
_RESERVATION = re.compile(r"^projects/[^/]+/zones/[^/]+/reservations/[^/]+(/.*)?$")


# -- Endpoint ---------------------------------------------------------------------------------------------
def check_endpoint(endpoint: Any, *, location: str) -> None:
    """CreateEndpoint's serving fields: logging, network or Private Service Connect, CMEK."""
    if endpoint.HasField(LOGGING_CONFIG):
        check_logging_config(endpoint.predict_request_response_logging_config, "endpoint")
    psc = endpoint.HasField("private_service_connect_config") or endpoint.enable_private_service_connect
    if endpoint.network:
        if not _NETWORK.match(endpoint.network):
            raise c.invalid(
                f"Invalid endpoint.network {endpoint.network!r}: expected projects/PROJECT_NUMBER/global/networks/"
                "NETWORK (the project as a number)."
            )
        # Endpoint.network: "Only one of the fields, network or enable_private_service_connect, can be set";
        # private_service_connect_config: "network and private_service_connect_config are mutually exclusive".
        if psc:
            raise c.invalid(
                "endpoint.network and endpoint.private_service_connect_config (enable_private_service_connect) are "
                "mutually exclusive: an Endpoint is private through VPC peering or Private Service Connect."
            )
    if endpoint.HasField("encryption_spec"):
        _check_kms_key(endpoint.encryption_spec.kms_key_name, location)


def _check_kms_key(key: str, location: str) -> None:
    if not key:
        # EncryptionSpec.kms_key_name: "Required."
        raise c.invalid("endpoint.encryption_spec.kms_key_name is required when encryption_spec is set.")
    match = _KMS_KEY.match(key)
    if not match:
        raise c.invalid(
            f"Invalid endpoint.encryption_spec.kms_key_name {key!r}: expected "
            "projects/PROJECT/locations/LOCATION/keyRings/KEY_RING/cryptoKeys/KEY."
        )
    if match.group("location") != location:
        raise c.invalid(
            f"Invalid endpoint.encryption_spec.kms_key_name {key!r}: the key must be in the Endpoint's region "
            f"{location}, not {match.group('location')}."
        )


def check_logging_config(config: Any, prefix: str) -> None:
    """PredictRequestResponseLoggingConfig: a sampling rate in (0, 1] and a bq:// destination."""
    field = f"{prefix}.{LOGGING_CONFIG}"
    rate = config.sampling_rate
    # sampling_rate: "Percentage of requests to be logged, expressed as a fraction in range(0,1]". 0 is the
    # proto3 default, which Google's SDK sends when no rate is given (Endpoint.create with
    # enable_request_response_logging=True and request_response_logging_sampling_rate=None), so it reads
    # as "not set".
    if math.isnan(rate) or rate < 0 or rate > 1:
        raise c.invalid(f"Invalid {field}.sampling_rate {rate}: a fraction in (0, 1].")
    uri = config.bigquery_destination.output_uri
    # An empty output_uri is what the SDK sends without a table; Vertex AI then creates
    # logging_<endpoint-display-name>_<endpoint-id>.request_response_logging (SDK docstring).
    if uri and (len(uri) > _BQ_URI_MAX or not _BQ_URI.match(uri)):
        raise c.invalid(
            f"Invalid {field}.bigquery_destination.output_uri {uri!r}: expected bq://PROJECT, "
            f"bq://PROJECT.DATASET or bq://PROJECT.DATASET.TABLE, at most {_BQ_URI_MAX} characters."
        )


def split_update_paths(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """UpdateEndpoint mask paths as (logging-config paths, the others); a create-only field is refused."""
    for path in paths:
        top = path.split(".", 1)[0]
        if top in CREATE_ONLY:
            raise c.invalid(
                f"endpoint.{top} cannot be updated: it is set only when the Endpoint is created (update_mask "
                f"path {path!r}); create a new Endpoint to change it."
            )
    logging = [p for p in paths if p.split(".", 1)[0] == LOGGING_CONFIG]
    if logging and not field_mask_pb2.FieldMask(paths=logging).IsValidForDescriptor(v1.Endpoint.pb().DESCRIPTOR):
        raise c.invalid(f"update_mask paths name no field of Endpoint: {logging}.")
    return logging, [p for p in paths if p not in logging]


# -- DeployedModel ----------------------------------------------------------------------------------------
def check_deployed_model(dm: Any) -> None:
    """DeployModel's deployed_model: resources, autoscaling, reservation and explanation parameters."""
    check_resources(dm)
    if dm.HasField("dedicated_resources"):
        check_autoscaling(dm.dedicated_resources, "deployed_model.dedicated_resources")
        spec = dm.dedicated_resources.machine_spec
        if spec.HasField("reservation_affinity"):
            _check_reservation(spec.reservation_affinity)
    if dm.HasField("explanation_spec") and dm.explanation_spec.HasField("parameters"):
        _check_explanation(dm.explanation_spec.parameters)


def _check_machine_spec(spec: Any) -> None:
    """The cloud refuses a machine type, accelerator or combination prediction does not offer; the emulator
    judges by the same bundled catalogue as `genaiops validate`, so the two cannot disagree."""
    accelerator: str | None = None
    if spec.accelerator_type:
        try:
            accelerator = v1.AcceleratorType(spec.accelerator_type).name
        except ValueError:  # a value newer than these client libraries
            accelerator = f"AcceleratorType({spec.accelerator_type})"
    problem = machine_spec_problem(spec.machine_type, accelerator, spec.accelerator_count)
    if problem is not None:
        raise c.invalid(f"Invalid deployed_model.dedicated_resources.machine_spec: {problem}.")


def check_resources(dm: Any) -> None:
    """Dedicated resources need a machine and 1 <= min <= max replicas (max defaults to min)."""
    if dm.HasField("dedicated_resources"):
        res = dm.dedicated_resources
        if res.min_replica_count < 1:
            raise c.invalid("deployed_model.dedicated_resources.min_replica_count must be at least 1.")
        if res.max_replica_count and res.max_replica_count < res.min_replica_count:
            raise c.invalid("max_replica_count must not be smaller than min_replica_count.")
        res.max_replica_count = res.max_replica_count or res.min_replica_count
        if not res.machine_spec.machine_type:
            raise c.invalid("deployed_model.dedicated_resources.machine_spec.machine_type is required.")
        _check_machine_spec(res.machine_spec)
    elif not dm.HasField("automatic_resources"):
        raise c.invalid("deployed_model needs dedicated_resources (or automatic_resources).")


def check_autoscaling(resources: Any, prefix: str) -> None:
    """DedicatedResources.autoscaling_metric_specs: supported metrics, one entry each, targets in range."""
    seen: set[str] = set()
    for i, spec in enumerate(resources.autoscaling_metric_specs):
        field = f"{prefix}.autoscaling_metric_specs[{i}]"
        name = spec.metric_name
        if name not in AUTOSCALING_METRICS:
            raise c.invalid(
                f"Invalid {field}.metric_name {name!r}: supported metrics for online prediction are "
                f"{', '.join(AUTOSCALING_METRICS)}."
            )
        # autoscaling_metric_specs: "At most one entry is allowed per metric."
        if name in seen:
            raise c.invalid(f"Invalid {field}: {name} appears twice; at most one entry is allowed per metric.")
        seen.add(name)
        # target 0 is the proto3 default: "The default value is 60 (representing 60%) if not provided".
        high = 100 if name in _PERCENT_METRICS else None
        if spec.target < 0 or (high is not None and spec.target > high):
            bounds = "a percentage from 1 to 100" if high else "a positive number of requests per replica"
            raise c.invalid(f"Invalid {field}.target {spec.target} for {name}: {bounds}.")
        # autoscaling_metric_specs: "If machine_spec.accelerator_count is 0, the autoscaling will be based on
        # CPU utilization metric only": a duty-cycle target needs accelerators to measure.
        if name == ACCELERATOR_DUTY_CYCLE and resources.machine_spec.accelerator_count <= 0:
            raise c.invalid(
                f"Invalid {field}.metric_name {name}: the accelerator duty cycle needs a machine_spec with "
                "accelerators (accelerator_count > 0)."
            )


def _check_reservation(affinity: Any) -> None:
    field = "deployed_model.dedicated_resources.machine_spec.reservation_affinity"
    kind = v1.ReservationAffinity.Type
    # reservation_affinity_type: "Required"; TYPE_UNSPECIFIED: "Default value. This should not be used."
    if affinity.reservation_affinity_type == kind.TYPE_UNSPECIFIED:
        raise c.invalid(
            f"{field}.reservation_affinity_type is required: NO_RESERVATION, ANY_RESERVATION or SPECIFIC_RESERVATION."
        )
    if affinity.reservation_affinity_type != kind.SPECIFIC_RESERVATION:
        return  # the docs give NO_RESERVATION and ANY_RESERVATION no rule on key and values
    # SPECIFIC_RESERVATION: "the reservation must be identified via the key and values fields."
    if not affinity.key or not affinity.values:
        raise c.invalid(f"{field}: SPECIFIC_RESERVATION needs a key and at least one value naming the reservation.")
    if affinity.key == RESERVATION_NAME_KEY:
        for i, value in enumerate(affinity.values):
            if not _RESERVATION.match(value):
                raise c.invalid(
                    f"Invalid {field}.values[{i}] {value!r}: the full resource name of the reservation, "
                    "projects/PROJECT/zones/ZONE/reservations/RESERVATION."
                )


def _check_explanation(parameters: Any) -> None:
    """ExplanationParameters: the valid ranges the v1 docstrings give (types/explanation.py)."""
    field = "deployed_model.explanation_spec.parameters"
    method = parameters.WhichOneof("method")
    if method == "sampled_shapley_attribution":
        # path_count: "Required ... Valid range of its value is [1, 50], inclusively."
        _check_range(f"{field}.{method}.path_count", parameters.sampled_shapley_attribution.path_count, 1, 50)
    elif method in ("integrated_gradients_attribution", "xrai_attribution"):
        attribution = getattr(parameters, method)
        # step_count: "Required ... Valid range of its value is [1, 100], inclusively."
        _check_range(f"{field}.{method}.step_count", attribution.step_count, 1, 100)
        if attribution.HasField("smooth_grad_config"):
            # noisy_sample_count: "Valid range of its value is [1, 50]. Defaults to 3." (0 = not set).
            count = attribution.smooth_grad_config.noisy_sample_count
            if count:
                _check_range(f"{field}.{method}.smooth_grad_config.noisy_sample_count", count, 1, 50)


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise c.invalid(f"Invalid {field} {value}: the valid range is [{low}, {high}], inclusively.")
