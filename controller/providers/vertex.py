"""The Vertex AI provider: implements `VertexPort` on the aiplatform_v1 gapic clients (not the high-level
SDK), one instance per (project, region).

Reads are list calls filtered by the ownership label, so a refresh costs one paginated ListEndpoints and
one ListModels whatever the number of resources. Long-running operations are submitted once and then
polled until done, riding out transient polling errors, so a flaky network never re-submits a deploy.

The serving spec maps onto the v1 API fields (names as in aiplatform_v1/types of google-cloud-aiplatform):
`DedicatedResources.autoscaling_metric_specs` and `.spot`, `MachineSpec.reservation_affinity`,
`DeployedModel.explanation_spec.parameters` (set by DeployModel); `Endpoint.
predict_request_response_logging_config` (CreateEndpoint, then UpdateEndpoint), and what only
CreateEndpoint sets: `dedicated_endpoint_enabled`, `network`, `private_service_connect_config`,
`encryption_spec` (serving_api.py converts them; vertex_read.py reads whole Endpoints and Models).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.api_core import exceptions as gexc
from google.api_core import operation as gop
from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from controller.errors import NotFoundError, TransientError
from controller.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from controller.observed import (
    ContainerSpec,
    DeploymentSpec,
    EndpointSettings,
    ObservedEndpoint,
    ObservedModel,
    RequestLogging,
)
from controller.providers.google_errors import call, translate
from controller.providers.serving_api import (
    autoscaling_specs,
    explanation_spec,
    logging_config,
    reservation_affinity,
    settings_fields,
)
from controller.providers.vertex_clients import PAGE_SIZE, VertexClients
from controller.providers.vertex_read import observed_endpoint, observed_model

MANAGED_FILTER = f'labels.{MANAGED_BY_LABEL}="{MANAGED_BY_VALUE}"'


def _container_spec(container: ContainerSpec) -> v1.ModelContainerSpec:
    return v1.ModelContainerSpec(
        image_uri=container.image_uri,
        command=list(container.command),
        args=list(container.args),
        env=[v1.EnvVar(name=k, value=v) for k, v in container.env],
        ports=[v1.Port(container_port=p) for p in container.ports],
        predict_route=container.predict_route or "",
        health_route=container.health_route or "",
    )


class VertexProvider(VertexClients):
    """`VertexPort` for one (project, region), over gRPC to Vertex AI or to any compatible server."""

    def __init__(
        self,
        *,
        project: str,
        region: str,
        channel: grpc.Channel | None = None,
        timeout_s: float = 60.0,
        lro_timeout_s: float = 3600.0,
        poll_interval_s: float = 0.2,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        """With `channel`, talk to that server (the emulator); otherwise to `{region}-aiplatform.googleapis.com`
        with Application Default Credentials. `on_call` is told the name of every API call (for counting)."""
        super().__init__(project=project, region=region, channel=channel, timeout_s=timeout_s, on_call=on_call)
        self.lro_timeout_s = lro_timeout_s
        self.poll_interval_s = poll_interval_s

    def _endpoint_name(self, endpoint_id: str) -> str:
        return f"{self.parent}/endpoints/{endpoint_id}"

    def _model_name(self, model_id: str) -> str:
        return f"{self.parent}/models/{model_id}"

    def _wait(self, op: gop.Operation, what: str) -> Any:
        """Poll a submitted operation until done; transient polling errors are retried, never re-submitted."""
        deadline = time.monotonic() + self.lro_timeout_s
        delay = self.poll_interval_s
        while True:
            try:
                self._count("GetOperation")
                if op.done(retry=None):  # type: ignore[no-untyped-call]
                    return op.result(timeout=self.timeout_s, retry=None)  # type: ignore[no-untyped-call]
            except (
                gexc.ServiceUnavailable,
                gexc.TooManyRequests,
                gexc.DeadlineExceeded,
                gexc.InternalServerError,
            ) as e:
                if time.monotonic() > deadline:
                    raise translate(e, what=what) from e
            except gexc.GoogleAPICallError as err:
                raise translate(err, what=what) from err
            if time.monotonic() > deadline:
                raise TransientError(f"{what}: operation {op.operation.name} still running after {self.lro_timeout_s}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 10.0)

    # -- reads ------------------------------------------------------------------------------------------
    def list_endpoints(self) -> list[ObservedEndpoint]:
        """Every managed endpoint, one paginated ListEndpoints."""
        request = v1.ListEndpointsRequest(parent=self.parent, filter=MANAGED_FILTER, page_size=PAGE_SIZE)
        pages = self._pages("ListEndpoints", request, self.endpoints.list_endpoints, "endpoints")
        return [observed_endpoint(e, self.region) for e in pages]

    def list_models(self) -> list[ObservedModel]:
        """Every managed model (default versions), one paginated ListModels."""
        request = v1.ListModelsRequest(parent=self.parent, filter=MANAGED_FILTER, page_size=PAGE_SIZE)
        pages = self._pages("ListModels", request, self.models.list_models, "models")
        return [observed_model(m, self.region) for m in pages]

    def resolve_version(self, model_id: str, ref: str) -> str | None:
        """GetModel(`models/M@ref`) -> its version id."""
        suffix = ref if ref.startswith("@") else f"@{ref}"
        self._count("GetModel")
        try:
            model = call(
                f"get model {model_id}{suffix}",
                lambda: self.models.get_model(
                    name=self._model_name(model_id) + suffix, timeout=self.timeout_s, retry=None
                ),
            )
        except NotFoundError:
            return None
        return str(model.version_id)

    def get_endpoint(self, endpoint_id: str) -> ObservedEndpoint | None:
        """GetEndpoint, None when absent."""
        self._count("GetEndpoint")
        try:
            endpoint = self.endpoints.get_endpoint(
                name=self._endpoint_name(endpoint_id), timeout=self.timeout_s, retry=None
            )
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as err:
            raise translate(err, what=f"get endpoint {endpoint_id}") from err
        return observed_endpoint(endpoint, self.region)

    def get_model(self, model_id: str) -> ObservedModel | None:
        """GetModel (default version), None when absent."""
        self._count("GetModel")
        try:
            model = self.models.get_model(name=self._model_name(model_id), timeout=self.timeout_s, retry=None)
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as err:
            raise translate(err, what=f"get model {model_id}") from err
        return observed_model(model, self.region)

    # -- endpoint writes --------------------------------------------------------------------------------
    def create_endpoint(
        self,
        *,
        endpoint_id: str,
        display_name: str,
        description: str,
        labels: Mapping[str, str],
        settings: EndpointSettings | None = None,
    ) -> ObservedEndpoint:
        """CreateEndpoint with the caller-chosen ID and the serving settings (logging, dedicated endpoint,
        network or Private Service Connect, CMEK: the last four can be set only here)."""
        what = f"create endpoint {endpoint_id}"
        body = v1.Endpoint(
            display_name=display_name,
            description=description,
            labels=dict(labels),
            **settings_fields(settings or EndpointSettings()),
        )
        self._count("CreateEndpoint")
        op = call(
            what,
            lambda: self.endpoints.create_endpoint(
                parent=self.parent, endpoint=body, endpoint_id=endpoint_id, timeout=self.timeout_s, retry=None
            ),
        )
        return observed_endpoint(self._wait(op, what), self.region)

    def update_endpoint(
        self,
        *,
        endpoint_id: str,
        etag: str,
        traffic_split: Mapping[str, int],
        labels: Mapping[str, str],
        display_name: str,
        description: str,
    ) -> ObservedEndpoint:
        """One UpdateEndpoint carrying the split, labels and metadata, guarded by the etag."""
        body = v1.Endpoint(
            name=self._endpoint_name(endpoint_id),
            display_name=display_name,
            description=description,
            labels=dict(labels),
            traffic_split=dict(traffic_split),
            etag=etag,
        )
        mask = field_mask_pb2.FieldMask(paths=["display_name", "description", "labels", "traffic_split"])
        self._count("UpdateEndpoint")
        updated = call(
            f"update endpoint {endpoint_id}",
            lambda: self.endpoints.update_endpoint(endpoint=body, update_mask=mask, timeout=self.timeout_s, retry=None),
            etag_checked=True,
        )
        return observed_endpoint(updated, self.region)

    def update_request_logging(self, endpoint_id: str, logging: RequestLogging | None) -> ObservedEndpoint:
        """UpdateEndpoint of `predict_request_response_logging_config` alone (update_mask names only it, so
        the split, labels and the rest stay as they are); None sends a config with `enabled` false.
        Request-response logging is "enabled by creating or patching the inference endpoint" (Vertex AI docs,
        predictions/online-prediction-logging; gcloud `ai endpoints update --request-response-logging-rate`)."""
        body = v1.Endpoint(
            name=self._endpoint_name(endpoint_id),
            predict_request_response_logging_config=logging_config(logging),
        )
        mask = field_mask_pb2.FieldMask(paths=["predict_request_response_logging_config"])
        self._count("UpdateEndpoint")
        updated = call(
            f"set request-response logging of endpoint {endpoint_id}",
            lambda: self.endpoints.update_endpoint(endpoint=body, update_mask=mask, timeout=self.timeout_s, retry=None),
        )
        return observed_endpoint(updated, self.region)

    def deploy_model(self, *, endpoint_id: str, spec: DeploymentSpec) -> str:
        """DeployModel with an empty traffic_split (the endpoint's split is left as it is), with the
        autoscaling targets, Spot, reservation affinity and explanation parameters of `spec`."""
        machine = v1.MachineSpec(machine_type=spec.machine_type)
        if spec.accelerator_type:
            machine.accelerator_type = getattr(v1.AcceleratorType, spec.accelerator_type)
            machine.accelerator_count = spec.accelerator_count
        if spec.reservation is not None:
            machine.reservation_affinity = reservation_affinity(spec.reservation)
        deployed = v1.DeployedModel(
            model=f"{self._model_name(spec.model_id)}@{spec.version}",
            display_name=spec.name,
            dedicated_resources=v1.DedicatedResources(
                machine_spec=machine,
                min_replica_count=spec.min_replicas,
                max_replica_count=spec.max_replicas,
                autoscaling_metric_specs=autoscaling_specs(spec.autoscaling),
                spot=spec.spot,
            ),
            disable_container_logging=spec.disable_container_logging,
            service_account=spec.service_account or "",
        )
        if spec.explanation is not None:
            deployed.explanation_spec = explanation_spec(spec.explanation)
        what = f"deploy {spec.model_id}@{spec.version} to {endpoint_id}"
        self._count("DeployModel")
        op = call(
            what,
            lambda: self.endpoints.deploy_model(
                endpoint=self._endpoint_name(endpoint_id), deployed_model=deployed, timeout=self.timeout_s, retry=None
            ),
        )
        response = self._wait(op, what)
        return str(response.deployed_model.id)

    def mutate_deployed_model(
        self,
        *,
        endpoint_id: str,
        deployed_model_id: str,
        min_replicas: int,
        max_replicas: int,
        autoscaling: tuple[tuple[str, int], ...] | None = None,
        disable_container_logging: bool | None = None,
    ) -> None:
        """MutateDeployedModel: replica counts, and when not None the autoscaling targets (the masked list
        replaces the live one; empty: Vertex AI's defaults) and container logging. MutateDeployedModelRequest:
        "Only the following fields can be mutated: min_replica_count, max_replica_count,
        required_replica_count, autoscaling_metric_specs, disable_container_logging (v1 only)"."""
        resources = v1.DedicatedResources(min_replica_count=min_replicas, max_replica_count=max_replicas)
        paths = ["dedicated_resources.min_replica_count", "dedicated_resources.max_replica_count"]
        if autoscaling is not None:
            resources.autoscaling_metric_specs = autoscaling_specs(autoscaling)
            paths.append("dedicated_resources.autoscaling_metric_specs")
        deployed = v1.DeployedModel(id=deployed_model_id, dedicated_resources=resources)
        if disable_container_logging is not None:
            deployed.disable_container_logging = disable_container_logging
            paths.append("disable_container_logging")
        mask = field_mask_pb2.FieldMask(paths=paths)
        what = f"mutate {deployed_model_id} on {endpoint_id}"
        self._count("MutateDeployedModel")
        op = call(
            what,
            lambda: self.endpoints.mutate_deployed_model(
                endpoint=self._endpoint_name(endpoint_id),
                deployed_model=deployed,
                update_mask=mask,
                timeout=self.timeout_s,
                retry=None,
            ),
        )
        self._wait(op, what)

    def undeploy_model(self, *, endpoint_id: str, deployed_model_id: str) -> None:
        """UndeployModel (the caller has already moved its traffic away)."""
        what = f"undeploy {deployed_model_id} from {endpoint_id}"
        self._count("UndeployModel")
        op = call(
            what,
            lambda: self.endpoints.undeploy_model(
                endpoint=self._endpoint_name(endpoint_id),
                deployed_model_id=deployed_model_id,
                timeout=self.timeout_s,
                retry=None,
            ),
        )
        self._wait(op, what)

    def delete_endpoint(self, endpoint_id: str) -> None:
        """DeleteEndpoint."""
        what = f"delete endpoint {endpoint_id}"
        self._count("DeleteEndpoint")
        op = call(
            what,
            lambda: self.endpoints.delete_endpoint(
                name=self._endpoint_name(endpoint_id), timeout=self.timeout_s, retry=None
            ),
        )
        self._wait(op, what)

    # -- model writes -----------------------------------------------------------------------------------
    def upload_model(
        self,
        *,
        model_id: str,
        parent_exists: bool,
        display_name: str,
        description: str,
        labels: Mapping[str, str],
        artifact_uri: str,
        container: ContainerSpec,
        aliases: tuple[str, ...],
    ) -> str:
        """UploadModel: a new model, or a new version that takes the `default` alias."""
        version_aliases = (["default"] if parent_exists else []) + list(aliases)
        model = v1.Model(
            display_name=display_name,
            description=description,
            labels=dict(labels),
            artifact_uri=artifact_uri,
            container_spec=_container_spec(container),
            version_aliases=version_aliases,
        )
        request = v1.UploadModelRequest(parent=self.parent, model=model)
        if parent_exists:
            request.parent_model = self._model_name(model_id)
        else:
            request.model_id = model_id
        what = f"upload model {model_id}"
        self._count("UploadModel")
        op = call(what, lambda: self.models.upload_model(request=request, timeout=self.timeout_s, retry=None))
        response = self._wait(op, what)
        return str(response.model_version_id)

    def update_model(self, *, model_id: str, display_name: str, description: str, labels: Mapping[str, str]) -> None:
        """UpdateModel: display name, description, labels."""
        body = v1.Model(
            name=self._model_name(model_id), display_name=display_name, description=description, labels=dict(labels)
        )
        mask = field_mask_pb2.FieldMask(paths=["display_name", "description", "labels"])
        self._count("UpdateModel")
        call(
            f"update model {model_id}",
            lambda: self.models.update_model(model=body, update_mask=mask, timeout=self.timeout_s, retry=None),
        )

    def merge_version_aliases(self, *, model_id: str, version_id: str, aliases: tuple[str, ...]) -> None:
        """MergeVersionAliases on `models/M@version`."""
        name = f"{self._model_name(model_id)}@{version_id}"
        self._count("MergeVersionAliases")
        call(
            f"set aliases on {model_id}@{version_id}",
            lambda: self.models.merge_version_aliases(
                name=name, version_aliases=list(aliases), timeout=self.timeout_s, retry=None
            ),
        )

    def delete_model(self, model_id: str) -> None:
        """DeleteModel (every version)."""
        what = f"delete model {model_id}"
        self._count("DeleteModel")
        op = call(
            what, lambda: self.models.delete_model(name=self._model_name(model_id), timeout=self.timeout_s, retry=None)
        )
        self._wait(op, what)


__all__ = ["VertexProvider", "observed_endpoint", "observed_model"]
