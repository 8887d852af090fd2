"""Benchmark of the local Vertex AI emulator through the real Google clients (a script, not a test).

Prints Predict throughput through `aiplatform_v1.PredictionServiceClient` over loopback gRPC (goal:
>= 1,000 predictions/s) with client threads in the emulator's process, and with clients in separate
processes as when `genaiops emulator start` serves other programs; then the cost of 1,000 GetEndpoint calls.

    .venv/bin/python benchmarks/emulator_bench.py [--seconds 3] [--threads 1,2,4,8] [--processes 1,2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from typing import Any

from google.cloud import aiplatform_v1 as v1

from controller.emulator.server import Emulator, running

MACHINE = {"machine_spec": {"machine_type": "n1-standard-4"}, "min_replica_count": 1}
GOAL_PER_S = 1000


def set_up(emu: Emulator) -> str:
    """An endpoint serving two models 90/10; returns its name."""
    endpoints, models = emu.endpoint_client(), emu.model_client()
    create = {"parent": emu.parent, "endpoint": {"display_name": "bench"}, "endpoint_id": "bench"}
    endpoint = endpoints.create_endpoint(request=create).result()
    split: dict[str, int] = {"0": 100}
    for i, uri in enumerate(("gs://b/primary", "gs://emulator-models/echo?error_rate=0&latency_ms=80")):
        model = v1.Model(display_name=f"m{i}", artifact_uri=uri, container_spec={"image_uri": "img"})
        name = models.upload_model(request={"parent": emu.parent, "model": model, "model_id": f"m{i}"}).result()
        deployed = v1.DeployedModel(model=name.model, dedicated_resources=MACHINE)
        op = endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed, traffic_split=split)
        split = {op.result().deployed_model.id: 90, "0": 10}
    return str(endpoint.name)


def predict_throughput(emu: Emulator, endpoint: str, *, threads: int, seconds: float) -> float:
    """Predictions per second with `threads` threads sharing one client for `seconds`."""
    client = emu.prediction_client()
    instances: list[Any] = [{"prompt": "hello", "max_tokens": 16}]
    counts = [0] * threads
    stop = threading.Event()

    def work(slot: int) -> None:
        while not stop.is_set():
            client.predict(endpoint=endpoint, instances=instances)
            counts[slot] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def _process_worker(target: str, endpoint: str, seconds: float, start: Any, results: Any) -> None:
    """One client process: its own channel and PredictionServiceClient, counting predictions."""
    import grpc
    from google.cloud.aiplatform_v1.services.prediction_service.transports.grpc import (
        PredictionServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(target)
    client: Any = v1.PredictionServiceClient(transport=PredictionServiceGrpcTransport(channel=channel))
    client.predict(endpoint=endpoint, instances=[1])  # connect before the clock starts
    start.wait()
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        client.predict(endpoint=endpoint, instances=[{"prompt": "hello", "max_tokens": 16}])
        count += 1
    results.put(count)


def predict_throughput_processes(emu: Emulator, endpoint: str, *, processes: int, seconds: float) -> float:
    """Predictions per second from `processes` client processes (the emulator serving in this one)."""
    ctx = multiprocessing.get_context("spawn")  # no fork after gRPC has started
    start, results = ctx.Barrier(processes + 1), ctx.Queue()
    workers = [
        ctx.Process(target=_process_worker, args=(emu.grpc_target, endpoint, seconds, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    start.wait(timeout=120)  # every worker has imported the client and connected
    total: int = sum(results.get(timeout=seconds + 60) for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def get_endpoint_cost(emu: Emulator, endpoint: str, calls: int = 1000) -> float:
    """Seconds for `calls` sequential GetEndpoint calls."""
    client = emu.endpoint_client()
    started = time.perf_counter()
    for _ in range(calls):
        client.get_endpoint(name=endpoint)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput run")
    parser.add_argument("--threads", default="1,2,4,8", help="comma-separated client thread counts")
    parser.add_argument("--processes", default="1,2", help="comma-separated client process counts (0: skip)")
    args = parser.parse_args()
    with running(rest_port=None, storage_port=None) as emu:
        endpoint = set_up(emu)
        predict_throughput(emu, endpoint, threads=1, seconds=0.5)  # warm up channel and code paths
        best = 0.0
        for threads in (int(t) for t in args.threads.split(",")):
            rate = predict_throughput(emu, endpoint, threads=threads, seconds=args.seconds)
            best = max(best, rate)
            print(f"Predict via PredictionServiceClient, {threads} thread(s) in-process: {rate:8.0f} predictions/s")
        for processes in (int(p) for p in args.processes.split(",") if int(p) > 0):
            rate = predict_throughput_processes(emu, endpoint, processes=processes, seconds=args.seconds)
            best = max(best, rate)
            print(f"Predict via PredictionServiceClient, {processes} client process(es): {rate:8.0f} predictions/s")
        verdict = "meets" if best >= GOAL_PER_S else "MISSES"
        print(f"best: {best:.0f} predictions/s ({verdict} the goal of {GOAL_PER_S}/s)")
        total = get_endpoint_cost(emu, endpoint)
        print(f"1,000 GetEndpoint calls via EndpointServiceClient: {total:.3f} s total, {total:.3f} ms per call")


if __name__ == "__main__":
    main()
