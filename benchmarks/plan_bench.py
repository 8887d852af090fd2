"""Benchmark: refresh + plan over 1,000 endpoints x 2 deployed models, 20 ms added to every API call.

genaiops observes with list calls (one paginated ListEndpoints and one ListModels per region); the
baseline, measured in the same run against the same emulator, reads each resource with its own
GetEndpoint / GetModel as Terraform's refresh does, with Terraform's default parallelism of 10.
Goal (issue 4): >= 20x fewer calls, >= 10x faster than the baseline, and under 5 s.

    python benchmarks/plan_bench.py [--endpoints 1000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from controller.emulator.faults import ADMIN_SERVICE
from controller.engine.observe import observe
from controller.model import Endpoint, Model
from controller.plans.planner import plan
from controller.providers.vertex import VertexProvider

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import emulator_process

IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"


def add_latency(channel: grpc.Channel, latency_ms: float) -> None:
    """Ask the emulator (its admin service, over the same channel) to add latency to every call."""
    from google.protobuf import struct_pb2

    body = struct_pb2.Struct()
    body.update({"spec": f"*:latency_ms={latency_ms}"})
    add = channel.unary_unary(
        f"/{ADMIN_SERVICE}/AddFault",
        request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )
    add(body)


def manifests(count: int) -> list[Model | Endpoint]:
    """Two models and `count` endpoints, each serving both models 90/10."""
    models: list[Model | Endpoint] = [
        Model.model_validate(
            {
                "apiVersion": "genaiops/v1",
                "kind": "Model",
                "metadata": {"name": name},
                "spec": {
                    "upload": {
                        "artifactUri": f"gs://emulator-models/{name}/v1",
                        "servingContainer": {"imageUri": IMAGE},
                    }
                },
            }
        )
        for name in ("blue", "green")
    ]
    endpoints = [
        Endpoint.model_validate(
            {
                "apiVersion": "genaiops/v1",
                "kind": "Endpoint",
                "metadata": {"name": f"ep-{i:04d}"},
                "spec": {
                    "deployments": [{"name": "blue", "model": "blue"}, {"name": "green", "model": "green"}],
                    "traffic": {"blue": 90, "green": 10},
                },
            }
        )
        for i in range(count)
    ]
    return models + endpoints


def populate(provider: VertexProvider, desired: list[Model | Endpoint]) -> None:
    """Create everything through the API (the executor would do the same; this is quicker to read)."""
    from controller.engine.audit import AuditLog
    from controller.engine.executor import Executor

    the_plan = plan(desired, observe({provider.region: provider}, desired))
    result = Executor(ports={provider.region: provider}, audit=AuditLog(None), parallelism=16).apply(the_plan)
    assert result.ok, result.failed[:3]


def main() -> None:
    """Populate, add latency, then time genaiops' refresh+plan and the per-resource baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    desired = manifests(args.endpoints)
    with tempfile.TemporaryDirectory() as tmp, emulator_process(Path(tmp)) as address:
        channel = grpc.insecure_channel(address)
        counts: dict[str, int] = {}

        def count(name: str) -> None:
            counts[name] = counts.get(name, 0) + 1

        provider = VertexProvider(project="local-project", region="us-central1", channel=channel, on_call=count)
        started = time.perf_counter()
        populate(provider, desired)
        print(f"populated {args.endpoints} endpoints x 2 deployed models in {time.perf_counter() - started:.1f} s")
        add_latency(channel, args.latency_ms)

        ours_runs, base_runs = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine; medians are reported
            counts.clear()
            started = time.perf_counter()
            observed = observe({"us-central1": provider}, desired)
            the_plan = plan(desired, observed)
            ours_runs.append(time.perf_counter() - started)
            our_calls = sum(counts.values())
            assert not the_plan.summary().has_changes, the_plan.summary().line()
            assert len(observed.endpoints) == args.endpoints

            counts.clear()
            started = time.perf_counter()
            ids = [m.metadata.name for m in desired if isinstance(m, Endpoint)]
            with ThreadPoolExecutor(max_workers=10) as pool:
                endpoints = list(pool.map(provider.get_endpoint, ids))
                models = list(pool.map(provider.get_model, ["blue", "green"]))
            base_runs.append(time.perf_counter() - started)
            base_calls = sum(counts.values())
            assert all(e is not None for e in endpoints) and all(m is not None for m in models)
        ours, baseline = statistics.median(ours_runs), statistics.median(base_runs)

    print(f"added latency per API call:        {args.latency_ms:.0f} ms")
    print(f"baseline (Get per resource, x10):  {base_calls:5d} calls  {baseline:6.2f} s (median of {args.repeat})")
    print(f"genaiops refresh + plan:           {our_calls:5d} calls  {ours:6.2f} s (median of {args.repeat})")
    print(
        f"ratio:                             {base_calls / our_calls:5.0f}x fewer calls, {baseline / ours:.1f}x faster"
    )
    print("goal: >= 20x fewer calls, >= 10x faster, under 5 s")


if __name__ == "__main__":
    main()
