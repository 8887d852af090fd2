"""Benchmark: what the genaiops runtime client adds to a streamed answer of an open chat model.

The embedded emulator (`controller.emulator.server.running`, REST on) serves endpoint `chat` with one
deployed registry model, an emulated vLLM-like chat model: first token after 20 ms, then 500 tokens/s,
64 output tokens, as server-sent events on `:streamRawPredict`. In the same run, interleaved stream by
stream (the order of the arms rotating each round) so that drift in the machine's load hits every arm alike:

- baseline: a plain httpx POST of the OpenAI chat body (`"stream": true`) to `{rest}/v1/{endpoint}:
  streamRawPredict`, reading the SSE lines and parsing each event, no genaiops;
- genaiops: `GenAIClient.stream` of a published prompt whose model is the endpoint (`ChatEndpointModel`),
  response cache off, its RequestRecords kept in a list (no metrics writer);
- genaiops + metrics: the same with the batching Cloud Monitoring recorder writing to the emulator, flushing
  every 0.5 s as the streaming canary's end-to-end test does (far more often than production's 60 s).

Each stream is timed on the wall clock from the call to the first text delta (TTFT) and to the end. Added
= the median of the per-round differences arm - baseline (robust to drift). Goals: added TTFT p50 < 2 ms,
added total p50 < 3 ms; exit status 1 when one is missed. Last, the runtime's own `time_to_first_token`
(RequestRecord.time_to_first_token_s, the value behind the `time_to_first_token` metric and canary gates)
against the wall clock's, to show that the metric reports what a user waits.

    python benchmarks/streaming_bench.py [--streams 200]

About 70 s at the default 200 streams each: 600 streams of >= 108 ms of model time alone (20 ms to the
first token, then about 45 words at 2 ms apart); `--streams 160` stays under a minute.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROJECT, LOCATION = "local-project", "us-central1"
ARTIFACT = "gs://emulator-models/chat?llm=chat&ttft_ms=20&tokens_per_s=500&output_tokens=64"
SYSTEM, TEMPLATE = "Be brief.", "Answer {{ question }}"
TTFT_GOAL_MS, TOTAL_GOAL_MS = 2.0, 3.0
ARMS = ("baseline", "genaiops", "metrics")
TITLES = {
    "baseline": "baseline: plain httpx SSE",
    "genaiops": "genaiops GenAIClient.stream",
    "metrics": "genaiops + metrics recorder",
}


@dataclass
class Kept:
    """A recorder that keeps every RequestRecord and hands it on to `then` (if any)."""

    then: Any = None
    records: list[Any] = field(default_factory=list)

    def record(self, record: Any) -> None:
        self.records.append(record)
        if self.then is not None:
            self.then.record(record)

    def record_feedback(self, feedback: Any) -> None:
        if self.then is not None:
            self.then.record_feedback(feedback)

    def flush(self) -> None:
        if self.then is not None:
            self.then.flush()

    def close(self) -> None:
        if self.then is not None:
            self.then.close()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def paired_added(arm: list[float], baseline: list[float]) -> float:
    """The median of per-round differences (robust to drift in the machine's load)."""
    return statistics.median(a - b for a, b in zip(arm, baseline, strict=True))


def question(i: int) -> str:
    return f"why is parcel {100000 + i} late"


def deploy(emu: Any) -> str:
    """Upload the chat model, create endpoint `chat`, deploy it with all traffic; the endpoint's name."""
    from google.cloud import aiplatform_v1 as v1

    model = v1.Model(
        display_name="llm",
        artifact_uri=ARTIFACT,
        container_spec={"image_uri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"},
    )
    uploaded = emu.model_client().upload_model(request={"parent": emu.parent, "model": model, "model_id": "llm"})
    endpoints = emu.endpoint_client()
    request = {"parent": emu.parent, "endpoint": v1.Endpoint(display_name="chat"), "endpoint_id": "chat"}
    endpoint = endpoints.create_endpoint(request=request).result(timeout=10)
    deployed = v1.DeployedModel(
        model=uploaded.result(timeout=10).model,
        dedicated_resources={"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 1},
    )
    endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed, traffic_split={"0": 100}).result(timeout=10)
    return str(endpoint.name)


Arm = Callable[[int], tuple[float, float]]  # stream i -> (ms to the first text delta, ms to the end)


def publish_prompt(workdir: Path, endpoint: str) -> Any:
    """A local prompt store holding `support` (its model: the chat endpoint), labelled production."""
    from controller.prompts.store import publish
    from controller.prompts.version import PromptVersion
    from controller.providers.prompt_store import LocalPromptStore

    store = LocalPromptStore(workdir / "prompt-store")
    prompt = PromptVersion(
        name="support",
        template=TEMPLATE,
        model="llm",
        system_instruction=SYSTEM,
        generation_config={"temperature": 0.0},
        variables={"question": {"type": "string"}},
        vertex_model=endpoint,
        runtime={"endpointApi": "chatCompletions"},  # as publishing records a chatCompletions Model's prompt
    )
    publish(store, prompt, ["production"])
    return store


def baseline_arm(http: Any, url: str) -> Arm:
    """A plain SSE client: POST the chat body, read every line, parse every event."""
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/json", "Accept": "text/event-stream"}

    def run(i: int) -> tuple[float, float]:
        body = {
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Answer {question(i)}"}],
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        started = time.perf_counter()
        first = None
        with http.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():  # to the end: a response left unread loses its connection
                data = line[5:].strip() if line.startswith("data:") else "[DONE]"
                if data == "[DONE]":
                    continue
                choices = json.loads(data).get("choices") or [{}]
                if first is None and (choices[0].get("delta") or {}).get("content"):
                    first = time.perf_counter()
        ended = time.perf_counter()
        assert first is not None, "the baseline stream had no text"
        return (first - started) * 1000, (ended - started) * 1000

    return run


def genaiops_arm(client: Any) -> Arm:
    """`GenAIClient.stream`, timed from the call (the runtime's own clock starts inside it)."""

    def run(i: int) -> tuple[float, float]:
        started = time.perf_counter()
        first = None
        stream = client.stream("support", {"question": question(i)})
        for delta in stream:
            if first is None and delta:
                first = time.perf_counter()
        ended = time.perf_counter()
        assert first is not None and stream.result is not None, "the genaiops stream had no text"
        return (first - started) * 1000, (ended - started) * 1000

    return run


def interleaved(arms: dict[str, Arm], streams: int) -> dict[str, dict[str, list[float]]]:
    """`streams` rounds of one stream per arm, the arms' order rotating each round."""
    wall: dict[str, dict[str, list[float]]] = {arm: {"ttft": [], "total": []} for arm in ARMS}
    for i in range(streams):
        for arm in ARMS[i % 3 :] + ARMS[: i % 3]:  # rotate, so no arm always follows another
            ttft, total = arms[arm](i)
            wall[arm]["ttft"].append(ttft)
            wall[arm]["total"].append(total)
    return wall


def measure(streams: int, workdir: Path) -> dict[str, Any]:
    """Interleaved (ttft ms, total ms) per arm, the kept records and the metrics recorder's stats."""
    import httpx

    from controller.emulator.server import running
    from controller.prompts.client import PromptClient
    from controller.providers.runtime_models import vertex_models
    from controller.providers.runtime_stores import cloud_monitoring_recorder
    from controller.runtime import GenAIClient

    with running(
        project=PROJECT,
        location=LOCATION,
        rest_port=0,
        storage_port=None,
        min_alignment_period_s=1,
        min_point_spacing_s=0.5,
    ) as emu:
        endpoint = deploy(emu)
        store = publish_prompt(workdir, endpoint)

        def client(recorder: Kept) -> GenAIClient:
            models = vertex_models(
                project=PROJECT, location=LOCATION, grpc_target=emu.grpc_target, genai_base_url=emu.rest_endpoint
            )
            prompts = PromptClient(store, project=PROJECT)
            return GenAIClient(prompts, models, cache="off", recorder=recorder, project=PROJECT, max_attempts=1)

        monitoring = cloud_monitoring_recorder(
            project=PROJECT, emulator=emu.grpc_target, interval_s=0.5, min_spacing_s=0.5
        )
        kept, kept_metrics = Kept(), Kept(then=monitoring)
        plain_client, metrics_client = client(kept), client(kept_metrics)
        with httpx.Client() as http:
            arms = {
                "baseline": baseline_arm(http, f"{emu.rest_endpoint}/v1/{endpoint}:streamRawPredict"),
                "genaiops": genaiops_arm(plain_client),
                "metrics": genaiops_arm(metrics_client),
            }
            interleaved(arms, 5)  # warm: connections, the prompt cache, lazy imports
            kept.records.clear()
            kept_metrics.records.clear()
            started = time.perf_counter()
            wall = interleaved(arms, streams)
            elapsed = time.perf_counter() - started
        metrics_client.close()
        monitoring.close()
        return {
            "wall": wall,
            "elapsed": elapsed,
            "records": {"genaiops": kept.records, "metrics": kept_metrics.records},
            "stats": monitoring.stats,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=200, help="timed streams of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genaiops-streaming-bench-") as tmp:
        out = measure(args.streams, Path(tmp))
    wall, stats = out["wall"], out["stats"]
    base = wall["baseline"]

    print(
        f"Streaming overhead on an emulated open chat model (ttft 20 ms, 500 tokens/s, 64 tokens; "
        f"{args.streams} streams each, interleaved, {out['elapsed']:.1f} s)"
    )
    head = (
        f"{'':30}{'TTFT p50':>9}{'p99':>8}{'added':>8}{'ratio':>7}{'total p50':>11}{'p99':>8}{'added':>8}{'ratio':>7}"
    )
    print(head + "   (ms)")
    ok = True
    for arm in ARMS:
        ttft, total = wall[arm]["ttft"], wall[arm]["total"]
        row = f"{TITLES[arm]:30}{pct(ttft, 50):9.2f}{pct(ttft, 99):8.2f}"
        if arm == "baseline":
            row += f"{'-':>8}{'-':>7}{pct(total, 50):11.2f}{pct(total, 99):8.2f}{'-':>8}{'-':>7}"
            print(row)
            continue
        added_ttft, added_total = paired_added(ttft, base["ttft"]), paired_added(total, base["total"])
        row += f"{added_ttft:+8.2f}{pct(ttft, 50) / pct(base['ttft'], 50):7.3f}"
        row += f"{pct(total, 50):11.2f}{pct(total, 99):8.2f}{added_total:+8.2f}"
        row += f"{pct(total, 50) / pct(base['total'], 50):7.3f}"
        print(row)
        ttft_ok, total_ok = added_ttft < TTFT_GOAL_MS, added_total < TOTAL_GOAL_MS
        ok = ok and ttft_ok and total_ok
        print(
            f"{'':30}goals: added TTFT p50 < {TTFT_GOAL_MS:g} ms {'ok' if ttft_ok else 'FAIL'}; "
            f"added total p50 < {TOTAL_GOAL_MS:g} ms {'ok' if total_ok else 'FAIL'}"
        )
    print(
        f"  metrics recorder: {stats.flushes} flushes, {stats.calls} CreateTimeSeries calls, "
        f"{stats.points} points, {stats.failed_calls} failed calls"
    )

    print()
    print("time_to_first_token as the runtime records it (RequestRecord) vs the wall clock, same streams (ms)")
    print(f"{'':30}{'recorded p50':>13}{'wall p50':>10}{'recorded p99':>14}{'wall p99':>10}{'max |diff|':>12}")
    for arm in ("genaiops", "metrics"):
        records = out["records"][arm]
        recorded = [r.time_to_first_token_s * 1000 for r in records if r.time_to_first_token_s is not None]
        felt = wall[arm]["ttft"]
        if len(recorded) != len(felt):
            print(f"{TITLES[arm]:30}{len(recorded)} records with a TTFT for {len(felt)} streams: FAIL")
            ok = False
            continue
        gap = max(abs(a - b) for a, b in zip(recorded, felt, strict=True))
        print(
            f"{TITLES[arm]:30}{pct(recorded, 50):13.2f}{pct(felt, 50):10.2f}"
            f"{pct(recorded, 99):14.2f}{pct(felt, 99):10.2f}{gap:12.2f}"
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
