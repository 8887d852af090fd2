"""Planning the serving settings of issue 17 that are not a new revision: autoscaling targets and
container logging change in place with the replica counts (one MutateDeployedModel), request-response
logging too (one `SetRequestLogging`, after the traffic moved), and what only CreateEndpoint sets
(dedicated endpoint, VPC network, Private Service Connect, CMEK) is never an operation on a live endpoint:
a difference there is a problem the planner reports as a diagnostic, naming the field, the live and
wanted values and what to do, while the rest of the endpoint's change is planned as usual.

Pure, beside endpoint_plan.py (which calls `in_place_mutation` and `logging_ops`); planner.py turns
`create_only_problems` into diagnostics. Vertex AI's own word on which fields are create-only: the
dedicated-endpoint guide has the endpoint type chosen "at the time of endpoint creation"
(predictions/using-dedicated-endpoints), gcloud's `ai endpoints update` offers none of network, Private
Service Connect or encryption, and Google's Terraform resource marks them immutable; the emulator refuses
them on UpdateEndpoint likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.model import Endpoint
from controller.observed import DeploymentSpec, EndpointSettings, ObservedDeployedModel, ObservedEndpoint
from controller.plans.operations import MutateDeployedModel, SetRequestLogging
from controller.plans.views_of import endpoint_settings, wanted_logging


@dataclass(frozen=True)
class CreateOnlyProblem:
    """A create-only setting the manifest changed on a live endpoint: where, what and what to do."""

    path: str  # the manifest field, `spec.network`
    summary: str
    detail: str


def logging_ops(endpoint: Endpoint, live: ObservedEndpoint) -> list[SetRequestLogging]:
    """One SetRequestLogging when the wanted request-response logging differs from the live one (a config
    that is not enabled counts as none), else nothing."""
    wanted = wanted_logging(endpoint_settings(endpoint.spec))
    if wanted == wanted_logging(live.settings):
        return []
    return [SetRequestLogging(endpoint.metadata.name, wanted)]


def in_place_mutation(
    endpoint_id: str, name: str, keep: ObservedDeployedModel, wanted: DeploymentSpec
) -> MutateDeployedModel | None:
    """What MutateDeployedModel changes in place on a kept deployed model: replica counts, and the
    autoscaling targets and container logging when they differ; None when nothing does."""
    live = keep.spec
    replicas = (wanted.min_replicas, wanted.max_replicas)
    autoscaling = wanted.autoscaling if live.autoscaling != wanted.autoscaling else None
    logging = wanted.disable_container_logging
    container_logging = logging if live.disable_container_logging != logging else None
    if (live.min_replicas, live.max_replicas) == replicas and autoscaling is None and container_logging is None:
        return None
    return MutateDeployedModel(
        endpoint_id,
        keep.id,
        *replicas,
        deployment=name,
        autoscaling=autoscaling,
        disable_container_logging=container_logging,
    )


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _psc(settings: EndpointSettings) -> str:
    if not settings.private_service_connect:
        return "off"
    projects = ", ".join(sorted(settings.psc_project_allowlist)) or "no project"
    return f"on (allowing {projects})"


# manifest path, what it is called, how its value reads, from EndpointSettings
_CREATE_ONLY = (
    ("spec.dedicated", "the dedicated endpoint (dedicatedEndpointEnabled)", lambda s: _on_off(s.dedicated)),
    ("spec.network", "the VPC network (network)", lambda s: s.network or "none"),
    ("spec.privateServiceConnect", "Private Service Connect (privateServiceConnectConfig)", _psc),
    ("spec.encryption.kmsKeyName", "the CMEK key (encryptionSpec.kmsKeyName)", lambda s: s.kms_key_name or "none"),
)


def create_only_problems(endpoint: Endpoint, live: ObservedEndpoint) -> list[CreateOnlyProblem]:
    """Every create-only setting whose wanted value differs from the live endpoint's."""
    wanted = endpoint_settings(endpoint.spec)
    if wanted.create_only() == live.settings.create_only():
        return []
    name = endpoint.metadata.name
    problems = []
    for path, what, shown in _CREATE_ONLY:
        before, after = shown(live.settings), shown(wanted)
        if before == after:
            continue
        problems.append(
            CreateOnlyProblem(
                path,
                f"{what} of live endpoint {name} is {before}, the manifest asks for {after}: Vertex AI sets it only "
                "when an endpoint is created (CreateEndpoint), so it cannot change on this one",
                f"to serve with {after}, declare a new Endpoint under another name with it, move the traffic to that "
                f"endpoint, then remove {name} from the manifests (or put {path} back to {before}); the rest of "
                f"{name}'s changes are planned as usual",
            )
        )
    return problems


__all__ = ["CreateOnlyProblem", "create_only_problems", "in_place_mutation", "logging_ops"]
