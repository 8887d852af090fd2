"""Observe: read live state for the regions the manifests use, with list calls only.

One paginated ListEndpoints and one ListModels per region, filtered by the ownership label, whatever the
number of resources; plus one GetModel per distinct `model@alias` reference that neither the manifests nor
the default versions answer (rare), and one Get per declared resource the lists did not return (one that
plan would create): if it exists without the ownership label, the plan reports the clash instead. An open
Model (`publisher` with `deploy`) costs one GetPublisherModel per distinct (region, publisher model): its
deploy action is what the plan uploads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from controller.engine.retry import DEFAULT_RETRY, RetryPolicy
from controller.model import Endpoint, Manifest, Model
from controller.observed import Observed, ObservedEndpoint, ObservedModel, OpenModelSource, address
from controller.ports import ModelGardenPort, VertexPort


def regions_of(manifests: Iterable[Manifest]) -> set[str]:
    """Every region a Model or Endpoint manifest names."""
    return {m.spec.region for m in manifests if isinstance(m, Model | Endpoint)}


def _unanswered_aliases(
    manifests: list[Manifest], models: Mapping[tuple[str, str], ObservedModel]
) -> set[tuple[str, str, str]]:
    declared = {
        m.metadata.name: set(m.spec.upload.version_aliases) | {"default"}
        for m in manifests
        if isinstance(m, Model) and m.spec.upload is not None
    }
    wanted: set[tuple[str, str, str]] = set()
    for endpoint in (m for m in manifests if isinstance(m, Endpoint)):
        for d in endpoint.spec.deployments:
            ref = d.model_version
            if ref is None or ref.isdigit() or ref in declared.get(d.model_name, set()):
                continue
            live = models.get((endpoint.spec.region, d.model_name))
            if live is not None and ref not in live.default_version.aliases:
                wanted.add((endpoint.spec.region, d.model_name, f"@{ref}"))
    return wanted


def _unmanaged(
    ports: Mapping[str, VertexPort],
    manifests: list[Manifest],
    endpoints: Mapping[tuple[str, str], ObservedEndpoint],
    models: Mapping[tuple[str, str], ObservedModel],
    retry: RetryPolicy,
) -> frozenset[str]:
    """Addresses of declared resources that the managed lists lack but that exist: someone else's."""
    missing: list[Endpoint | Model] = [
        m
        for m in manifests
        if (isinstance(m, Endpoint) and (m.spec.region, m.metadata.name) not in endpoints)
        or (
            isinstance(m, Model)
            and (m.spec.upload is not None or m.spec.is_open_model)
            and (m.spec.region, m.metadata.name) not in models
        )
    ]

    def foreign(m: Endpoint | Model) -> bool:
        port, name = ports[m.spec.region], m.metadata.name
        found = retry.call(lambda: port.get_endpoint(name) if isinstance(m, Endpoint) else port.get_model(name))
        return found is not None and not found.managed

    if not missing:
        return frozenset()
    with ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
        flags = list(pool.map(foreign, missing))
    return frozenset(address(m.kind, m.spec.region, m.metadata.name) for m, f in zip(missing, flags, strict=True) if f)


def _open_models(
    model_garden: ModelGardenPort | None, manifests: list[Manifest], retry: RetryPolicy
) -> dict[tuple[str, str], OpenModelSource | None]:
    """What Model Garden says of each open Model's publisher model, one GetPublisherModel per distinct
    (region, publisher); nothing without a Model Garden port (the plan says why it cannot plan them)."""
    wanted = sorted(
        {
            (m.spec.region, m.spec.publisher)
            for m in manifests
            if isinstance(m, Model) and m.spec.publisher and m.spec.deploy
        }
    )
    if model_garden is None or not wanted:
        return {}

    def read(key: tuple[str, str]) -> OpenModelSource | None:
        region, name = key
        return retry.call(lambda: model_garden.get_open_model(region=region, publisher_model=name))

    with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
        return dict(zip(wanted, pool.map(read, wanted), strict=True))


def observe(
    ports: Mapping[str, VertexPort],
    manifests: Iterable[Manifest],
    *,
    regions: Iterable[str] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    model_garden: ModelGardenPort | None = None,
) -> Observed:
    """Live managed state in `regions` (default: every region of `ports` and of the manifests), read in
    parallel, transient errors retried; with `model_garden`, the deploy actions of the open Models."""
    wanted = list(manifests)

    def read(region: str) -> tuple[list[ObservedEndpoint], list[ObservedModel]]:
        port = ports[region]
        return retry.call(port.list_endpoints), retry.call(port.list_models)

    regions = sorted(set(regions) if regions is not None else set(ports) | regions_of(wanted))
    for region in regions:
        _ = ports[region]  # a lazy mapping opens the region's provider here, before the threads start
    with ThreadPoolExecutor(max_workers=max(1, len(regions))) as pool:
        results = dict(zip(regions, pool.map(read, regions), strict=True))
    endpoints = {(r, e.endpoint_id): e for r, (eps, _) in results.items() for e in eps if e.managed}
    models = {(r, m.model_id): m for r, (_, ms) in results.items() for m in ms if m.managed}
    unmanaged = _unmanaged(ports, wanted, endpoints, models, retry)
    versions: dict[tuple[str, str, str], str] = {}
    for region, model_id, ref in sorted(_unanswered_aliases(wanted, models)):
        port = ports[region]
        found = retry.call(lambda: port.resolve_version(model_id, ref))  # noqa: B023 (called at once)
        if found is not None:
            versions[(region, model_id, ref)] = found
    open_models = _open_models(model_garden, wanted, retry)
    return Observed(endpoints=endpoints, models=models, versions=versions, unmanaged=unmanaged, open_models=open_models)
