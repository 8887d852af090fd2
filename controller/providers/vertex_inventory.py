"""The Vertex AI inventory for `genaiops import`: implements `InventoryPort` on the aiplatform_v1 gapic
clients, one instance per (project, region).

Unlike `VertexProvider`, which sees only what genaiops owns (its lists filter on the ownership label), the
inventory lists every endpoint and model of the region, all pages, and converts them with the same
`observed_endpoint` / `observed_model` the provider uses, so an imported manifest is compared with exactly
what `plan` will observe once the resource is adopted. Its only writes are adoptions: one label update per
resource (update mask `labels` and nothing else), an endpoint's guarded by the etag it was read with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import grpc
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.endpoint_service.transports.grpc import EndpointServiceGrpcTransport
from google.cloud.aiplatform_v1.services.model_service.transports.grpc import ModelServiceGrpcTransport
from google.protobuf import field_mask_pb2

from controller.observed import ObservedEndpoint, ObservedModel
from controller.providers.google_errors import call
from controller.providers.vertex import PAGE_SIZE, observed_endpoint, observed_model

_LABELS_ONLY = ["labels"]


def _raw(message: Any) -> Any:
    """The protobuf message under a proto-plus wrapper (faster to read)."""
    return type(message).pb(message) if hasattr(type(message), "pb") else message


class VertexInventory:
    """`InventoryPort` for one (project, region), over gRPC to Vertex AI or to any compatible server."""

    def __init__(
        self,
        *,
        project: str,
        region: str,
        channel: grpc.Channel | None = None,
        timeout_s: float = 60.0,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        """With `channel`, talk to that server (the emulator); otherwise to `{region}-aiplatform.googleapis.com`
        with Application Default Credentials. `on_call` is told the name of every API call (for counting)."""
        self._region = region
        self.timeout_s = timeout_s
        self._on_call = on_call
        self.parent = f"projects/{project}/locations/{region}"
        if channel is not None:
            self.endpoints = v1.EndpointServiceClient(transport=EndpointServiceGrpcTransport(channel=channel))
            self.models = v1.ModelServiceClient(transport=ModelServiceGrpcTransport(channel=channel))
        else:
            options = {"api_endpoint": f"{region}-aiplatform.googleapis.com"}
            self.endpoints = v1.EndpointServiceClient(client_options=options)
            self.models = v1.ModelServiceClient(client_options=options)

    @property
    def region(self) -> str:
        """The region this inventory reads."""
        return self._region

    def _count(self, name: str) -> None:
        if self._on_call is not None:
            self._on_call(name)

    def _pages(self, name: str, request: Any, list_call: Callable[..., Any], field: str) -> list[Any]:
        """Every item of a paginated List call, one counted call per page."""
        items: list[Any] = []
        while True:
            self._count(name)
            page = call(name, lambda: list_call(request=request, timeout=self.timeout_s, retry=None))
            response = _raw(page._response)
            items += list(getattr(response, field))
            if not response.next_page_token:
                return items
            request.page_token = response.next_page_token

    def all_endpoints(self) -> list[ObservedEndpoint]:
        """Every endpoint of the region, owned or not: paginated ListEndpoints without a filter."""
        request = v1.ListEndpointsRequest(parent=self.parent, page_size=PAGE_SIZE)
        pages = self._pages("ListEndpoints", request, self.endpoints.list_endpoints, "endpoints")
        return [observed_endpoint(e, self.region) for e in pages]

    def all_models(self) -> list[ObservedModel]:
        """Every registry model of the region (default versions), owned or not: ListModels without a filter."""
        request = v1.ListModelsRequest(parent=self.parent, page_size=PAGE_SIZE)
        pages = self._pages("ListModels", request, self.models.list_models, "models")
        return [observed_model(m, self.region) for m in pages]

    def adopt_endpoint(self, *, endpoint_id: str, etag: str, labels: Mapping[str, str]) -> ObservedEndpoint:
        """One UpdateEndpoint with update mask `labels` only, guarded by `etag`: ConflictError when the
        endpoint changed since it was read."""
        body = v1.Endpoint(name=f"{self.parent}/endpoints/{endpoint_id}", labels=dict(labels), etag=etag)
        mask = field_mask_pb2.FieldMask(paths=_LABELS_ONLY)
        self._count("UpdateEndpoint")
        updated = call(
            f"adopt endpoint {endpoint_id}",
            lambda: self.endpoints.update_endpoint(endpoint=body, update_mask=mask, timeout=self.timeout_s, retry=None),
            etag_checked=True,
        )
        return observed_endpoint(updated, self.region)

    def adopt_model(self, *, model_id: str, labels: Mapping[str, str]) -> None:
        """One UpdateModel with update mask `labels` only."""
        body = v1.Model(name=f"{self.parent}/models/{model_id}", labels=dict(labels))
        mask = field_mask_pb2.FieldMask(paths=_LABELS_ONLY)
        self._count("UpdateModel")
        call(
            f"adopt model {model_id}",
            lambda: self.models.update_model(model=body, update_mask=mask, timeout=self.timeout_s, retry=None),
        )


__all__ = ["VertexInventory"]
