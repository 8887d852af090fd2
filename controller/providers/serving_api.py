"""The Vertex AI serving spec in the v1 API's messages, both ways: the observed-state values of
`DeploymentSpec` and `EndpointSettings` <-> `aiplatform_v1` fields. Part of the Vertex provider
(vertex.py); reads take the raw protobuf messages the provider reads from (faster than proto-plus).

Field names and values are those of the installed google-cloud-aiplatform v1 types:
- `DedicatedResources.autoscaling_metric_specs` (types/machine_resources.py): `AutoscalingMetricSpec(
  metric_name, target)`, "at most one entry is allowed per metric"; `DedicatedResources.spot` ("schedule
  the deployment workload on spot VMs").
- `MachineSpec.reservation_affinity` (types/reservation_affinity.py): `reservation_affinity_type`
  NO_RESERVATION | ANY_RESERVATION | SPECIFIC_RESERVATION, with `key` and `values` for a specific one.
- `DeployedModel.explanation_spec.parameters` (types/explanation.py): the `method` oneof
  `sampled_shapley_attribution{path_count}`, `integrated_gradients_attribution{step_count}`,
  `xrai_attribution{step_count}`, and `top_k`.
- `Endpoint.predict_request_response_logging_config` (types/endpoint.py): `enabled`, `sampling_rate`,
  `bigquery_destination.output_uri` (types/io.py: bq://project[.dataset[.table]]).
- `Endpoint.dedicated_endpoint_enabled` (+ output-only `dedicated_endpoint_dns`), `Endpoint.network`,
  `Endpoint.private_service_connect_config{enable_private_service_connect, project_allowlist}`
  (types/service_networking.py; the older `Endpoint.enable_private_service_connect` is read too) and
  `Endpoint.encryption_spec.kms_key_name` (types/encryption_spec.py).
"""

from __future__ import annotations

from typing import Any

from google.cloud import aiplatform_v1 as v1

from controller.observed import EndpointSettings, ExplanationParameters, RequestLogging, ReservationAffinity

_AFFINITY = {
    "none": v1.ReservationAffinity.Type.NO_RESERVATION,
    "any": v1.ReservationAffinity.Type.ANY_RESERVATION,
    "specific": v1.ReservationAffinity.Type.SPECIFIC_RESERVATION,
}
_AFFINITY_NAMES = {int(value): name for name, value in _AFFINITY.items()}
# The ExplanationParameters `method` oneof member of each manifest method, and the count it carries.
_METHODS = {
    "sampled-shapley": ("sampled_shapley_attribution", "path_count"),
    "integrated-gradients": ("integrated_gradients_attribution", "step_count"),
    "xrai": ("xrai_attribution", "step_count"),
}
_METHOD_NAMES = {member: name for name, (member, _) in _METHODS.items()}


# -- DeployedModel ----------------------------------------------------------------------------------------
def autoscaling_of(resources: Any) -> tuple[tuple[str, int], ...]:
    """(metric name, target) pairs of `DedicatedResources.autoscaling_metric_specs`, sorted."""
    return tuple(sorted((s.metric_name, s.target) for s in resources.autoscaling_metric_specs))


def autoscaling_specs(pairs: tuple[tuple[str, int], ...]) -> list[v1.AutoscalingMetricSpec]:
    """`autoscaling_metric_specs` for (metric name, target) pairs."""
    return [v1.AutoscalingMetricSpec(metric_name=name, target=target) for name, target in pairs]


def reservation_of(machine_spec: Any) -> ReservationAffinity | None:
    """`MachineSpec.reservation_affinity`, None when absent (or of the unspecified type)."""
    if not machine_spec.HasField("reservation_affinity"):
        return None
    affinity = machine_spec.reservation_affinity
    kind = _AFFINITY_NAMES.get(int(affinity.reservation_affinity_type))
    if kind is None:
        return None
    return ReservationAffinity(kind, affinity.key, tuple(affinity.values))


def reservation_affinity(reservation: ReservationAffinity) -> v1.ReservationAffinity:
    """The API's `ReservationAffinity` for a deployment's reservation."""
    return v1.ReservationAffinity(
        reservation_affinity_type=_AFFINITY[reservation.type], key=reservation.key, values=list(reservation.values)
    )


def explanation_of(deployed: Any) -> ExplanationParameters | None:
    """`DeployedModel.explanation_spec.parameters`, None when the deployed model sets none."""
    if not deployed.HasField("explanation_spec") or not deployed.explanation_spec.HasField("parameters"):
        return None
    parameters = deployed.explanation_spec.parameters
    member = parameters.WhichOneof("method") or ""
    method = _METHOD_NAMES.get(member, member)  # `examples` (no manifest method) keeps its API name
    counts = {"path_count": 0, "step_count": 0}
    if method in _METHODS:
        count = _METHODS[method][1]
        counts[count] = getattr(getattr(parameters, member), count)
    return ExplanationParameters(method, top_k=parameters.top_k, **counts)


def explanation_spec(explanation: ExplanationParameters) -> v1.ExplanationSpec:
    """The API's `ExplanationSpec` carrying a deployment's parameters (metadata inherited from the Model)."""
    member, count = _METHODS[explanation.method]
    value = explanation.path_count if count == "path_count" else explanation.step_count
    parameters = v1.ExplanationParameters(top_k=explanation.top_k, **{member: {count: value}})
    return v1.ExplanationSpec(parameters=parameters)


# -- Endpoint ---------------------------------------------------------------------------------------------
def logging_config(logging: RequestLogging | None) -> v1.PredictRequestResponseLoggingConfig:
    """`predict_request_response_logging_config`: the wanted config, or `enabled: false` for None."""
    if logging is None:
        return v1.PredictRequestResponseLoggingConfig(enabled=False)
    config = v1.PredictRequestResponseLoggingConfig(enabled=logging.enabled, sampling_rate=logging.sampling_rate)
    if logging.bigquery_table:
        config.bigquery_destination = v1.BigQueryDestination(output_uri=logging.bigquery_table)
    return config


def settings_of(endpoint: Any) -> EndpointSettings:
    """An endpoint's serving settings from the raw `Endpoint` message."""
    logging = None
    if endpoint.HasField("predict_request_response_logging_config"):
        config = endpoint.predict_request_response_logging_config
        logging = RequestLogging(config.enabled, config.sampling_rate, config.bigquery_destination.output_uri)
    psc = endpoint.private_service_connect_config
    return EndpointSettings(
        logging=logging,
        dedicated=endpoint.dedicated_endpoint_enabled,
        network=endpoint.network,
        private_service_connect=psc.enable_private_service_connect or endpoint.enable_private_service_connect,
        psc_project_allowlist=tuple(sorted(psc.project_allowlist)),
        kms_key_name=endpoint.encryption_spec.kms_key_name,
        dedicated_dns=endpoint.dedicated_endpoint_dns,
    )


def settings_fields(settings: EndpointSettings) -> dict[str, Any]:
    """The `Endpoint` fields CreateEndpoint sends for `settings` (only those set)."""
    fields: dict[str, Any] = {}
    if settings.logging is not None:
        fields["predict_request_response_logging_config"] = logging_config(settings.logging)
    if settings.dedicated:
        fields["dedicated_endpoint_enabled"] = True
    if settings.network:
        fields["network"] = settings.network
    if settings.private_service_connect:
        fields["private_service_connect_config"] = v1.PrivateServiceConnectConfig(
            enable_private_service_connect=True, project_allowlist=list(settings.psc_project_allowlist)
        )
    if settings.kms_key_name:
        fields["encryption_spec"] = v1.EncryptionSpec(kms_key_name=settings.kms_key_name)
    return fields


__all__ = [
    "autoscaling_of",
    "autoscaling_specs",
    "explanation_of",
    "explanation_spec",
    "logging_config",
    "reservation_affinity",
    "reservation_of",
    "settings_fields",
    "settings_of",
]
