"""The Vertex AI inventory for `genaiops import`: implements `InventoryPort` on the aiplatform_v1 gapic
clients, one instance per (project, region).

Unlike `VertexProvider`, which sees only what genaiops owns (its lists filter on the ownership label), the
inventory lists every endpoint and model of the region, all pages, and converts them with the same
`observed_endpoint` / `observed_model` the provider uses, so an imported manifest is compared with exactly
what `plan` will observe once the resource is adopted. Its only writes are adoptions: one label update per
resource (update mask `labels` and nothing else), an endpoint's guarded by the etag it was read with.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.cloud import aiplatform_v1 as v1
from google.protobuf import field_mask_pb2

from controller.observed import ObservedEndpoint, ObservedModel
from controller.providers.google_errors import call
from controller.providers.vertex_clients import PAGE_SIZE, VertexClients
from controller.providers.vertex_read import observed_endpoint, observed_model

_LABELS_ONLY = ["labels"]


class VertexInventory(VertexClients):
    """`InventoryPort` for one (project, region), over gRPC to Vertex AI or to any compatible server."""

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
