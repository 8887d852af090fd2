"""The aiplatform_v1 EndpointService and ModelService clients of one (project, region), and the paginated,
counted List calls: what the Vertex provider (vertex.py) and the import inventory (vertex_inventory.py) share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.endpoint_service.transports.grpc import EndpointServiceGrpcTransport
from google.cloud.aiplatform_v1.services.model_service.transports.grpc import ModelServiceGrpcTransport

from controller.providers.google_errors import call
from controller.providers.vertex_read import raw

PAGE_SIZE = 1000


class VertexClients:
    """The clients of one (project, region), over gRPC to Vertex AI or to any compatible server."""

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
        self.project = project
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
        """The region these clients serve."""
        return self._region

    def _count(self, name: str) -> None:
        if self._on_call is not None:
            self._on_call(name)

    def _pages(self, name: str, request: Any, list_call: Callable[..., Any], field: str) -> list[Any]:
        """Every item of a paginated List call, one counted call per page (the pager's own follow-up calls
        are bypassed so that each page is retried and counted here)."""
        items: list[Any] = []
        while True:
            self._count(name)
            page = call(name, lambda: list_call(request=request, timeout=self.timeout_s, retry=None))
            response = raw(page._response)
            items += list(getattr(response, field))
            if not response.next_page_token:
                return items
            request.page_token = response.next_page_token
