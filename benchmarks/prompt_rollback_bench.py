"""Benchmark: time from breach to candidate weight 0 when a prompt canary misbehaves (issue 14's bound).

The prompt counterpart of `rollback_bench.py`. An in-process emulator (Vertex AI, Cloud Monitoring and
Cloud Storage) holds the prompt store where `--emulator` targets keep it (`gs://local-project-genaiops/
prompts`, the realistic store: a rollback is one compare-and-swap of the prompt's index over the JSON API).
Simulated users call the prompt through the runtime client (`GenAIClient`, each with a routing key, the
prompt TTL 0.5 s) on background threads the whole time; their metrics go to the emulator's Cloud
Monitoring through `cloud_monitoring_recorder` (flushed every 0.5 s). The stable version runs on an
emulated Gemini model without errors. Each trial changes the prompt (a new template variant) and moves it
to an emulated model that fails half its calls, then runs `genaiops apply --wait` in-process. Per trial:

- breach: the first failing measurement of the candidate (its `rollout-measured` event for kind Prompt);
- decision: the measurement that trips `failureLimit` (the same one when failureLimit is 0);
- weight 0: when the emulator's Cloud Storage stored the index write that set the candidate's weight to 0
  (its server-side update time; the benchmark taps the emulator's object store, reading what was written);
- seen: the routing time of the last request the runtime client still sent to the candidate (the record's
  time minus its latency); "weight 0 -> last candidate request" is 0 when none was routed after the write.

It prints breach -> weight 0 and decision -> weight 0 in analysis intervals and seconds (median and max),
then what users see (weight 0 -> the candidate's last request; breach -> the candidate's last request).
The bound (issue 14): weight 0 within one analysis interval plus one store write after the breach with
failureLimit 1, within one store write with failureLimit 0, as for endpoints.

Baseline, measured in the same run: by default each trial also runs one endpoint trial of
`rollback_bench.py` (the same interval and failureLimit, on the same emulator), so the endpoint figure and
the prompt/endpoint ratio come from the same machine and load. It roughly doubles the run (each kind of
trial takes about 3.5 s: 20 of both about 2.5 minutes); `--no-baseline` skips it. Note the endpoint's
"restored" is when its UpdateEndpoint arrived, the prompt's "weight 0" when the store committed the write,
which follows a read of the index (the compare-and-swap), so the prompt's figure carries one more round trip.

    python benchmarks/prompt_rollback_bench.py [--trials 20] [--interval 1] [--failure-limit 1]
        [--users 8] [--no-baseline]

Last measured (20 trials each, interval 1 s, 8 user threads, baseline on; a 2-core VM whose load average
was about 2.4 from other work; the endpoint's figures are its baseline in the same run):

    failureLimit 1                      median                    max
    breach -> weight 0                  1.06 intervals (1.064 s)  1.18 intervals (1.181 s)
    decision -> weight 0                0.05 intervals (0.048 s)  0.08 intervals (0.078 s)
    weight 0 -> last candidate request  0.28 intervals (0.283 s)  0.52 intervals (0.516 s)  (TTL 0.5 s)
    breach -> last candidate request    1.33 intervals (1.326 s)  1.69 intervals (1.690 s)
    endpoint breach -> restored         1.01 intervals (1.011 s)  1.15 intervals (1.149 s)
    endpoint decision -> restored       0.02 intervals (0.017 s)  0.06 intervals (0.062 s)
    prompt / endpoint, breach: median x1.05, max x1.03; requests routed to the candidate after the
    weight-0 write: median 7.5, max 19 a trial

    failureLimit 0
    breach (= decision) -> weight 0     0.04 intervals (0.039 s)  0.10 intervals (0.099 s)
    weight 0 -> last candidate request  0.19 intervals (0.194 s)  0.47 intervals (0.475 s)
    breach -> last candidate request    0.25 intervals (0.252 s)  0.51 intervals (0.506 s)
    endpoint breach -> restored         0.02 intervals (0.020 s)  0.05 intervals (0.052 s)
    prompt / endpoint, breach: median x1.93, max x1.91 (+19 ms); after the write: median 5.5, max 24

So the prompt keeps the endpoint's bound, with the store's read-and-write in place of one API call: with
failureLimit 1 weight 0 came one interval plus 64 ms after the breach (median; the worst +181 ms, of which
132 ms is the analysis cadence under load, which the endpoint shows too: its worst breach -> decision was
1.114 s), with failureLimit 0 39 ms after it (worst 99 ms). The runtime client stopped routing to the
candidate within its prompt TTL of the write (the worst, 0.516 s, is the TTL plus the background re-read:
stale-while-revalidate serves the cached routing while that read is in flight).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.emulator.server import Emulator, running
from controller.errors import GenaiopsError
from controller.prompts.client import PromptClient
from controller.prompts.index import PromptIndex
from controller.prompts.store import index_path
from controller.providers.connections import connect_emulator, emulator_storage_client
from controller.providers.prompt_store import open_store
from controller.providers.runtime_models import vertex_models
from controller.providers.runtime_stores import cloud_monitoring_recorder
from controller.runtime import GenAIClient
from controller.runtime.recorder import BatchingRecorder
from controller.runtime.records import Feedback, RequestRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rollback_bench  # (the endpoint benchmark, a sibling script: its trial is the baseline)

PROJECT = "local-project"
STORE = f"gs://{PROJECT}-genaiops/prompts"  # the `--emulator` target's default prompt store
PROMPT_NAME, LABEL = "bench-answer", "production"
INDEX_OBJECT = f"{STORE.rpartition('/')[2]}/{index_path(PROMPT_NAME)}"  # the store's prefix, then its layout
TTL_S = 0.5
ERROR_RATE = 0.5
GEMINI = {
    "gemini-3.5-flash": "latency_ms=20;latency_jitter_ms=5;error_rate=0",
    "gemini-3.8-flash-bad": f"latency_ms=20;latency_jitter_ms=5;error_rate={ERROR_RATE}",
}

MODELS = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: gemini-stable}
spec: {publisher: publishers/google/models/gemini-3.5-flash}
---
apiVersion: genaiops/v1
kind: Model
metadata: {name: gemini-bad}
spec: {publisher: publishers/google/models/gemini-3.8-flash-bad}
"""

PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: {name}}}
spec:
  model: {model}
  template: "Answer briefly ({variant}): {{{{ question }}}}"
  variables:
    question: {{type: string}}
  labels: [{label}]
  rollout:
    strategy: canary
    steps: [{{weight: 20, pause: {pause}s}}, {{weight: 50, pause: {pause}s}}]
    analysis:
      interval: {interval}s
      initialDelay: {interval}s
      minRequests: 5
      failureLimit: {failure_limit}
      metrics: [{{name: error-rate, max: 0.05}}]
"""


@dataclass(frozen=True)
class Trial:
    """One erroring prompt canary's timings (unix seconds); `seen` is None when the candidate served nothing."""

    breach: float
    decision: float
    weight_zero: float
    seen: float | None
    late: int  # requests routed to the candidate after the weight-0 write


class IndexWrites:
    """Every write of the prompt's index in the emulator's Cloud Storage: its server-side update time and
    the index it stored (taps the emulator's object store; the JSON API itself is unchanged)."""

    def __init__(self, emulator: Emulator, object_name: str) -> None:
        self.writes: list[tuple[float, PromptIndex]] = []
        self._lock = threading.Lock()
        store = getattr(getattr(emulator, "_storage", None), "_store", None)
        if store is None:
            raise SystemExit("the emulator serves no Cloud Storage (start it with a storage port)")
        original = store.insert_object

        def insert_object(bucket: str, name: str, data: bytes, resource: dict[str, Any], pre: Any) -> Any:
            stored = original(bucket, name, data, resource, pre)
            if name == object_name:
                with self._lock:
                    self.writes.append((stored.updated_us / 1e6, PromptIndex.from_json(json.loads(data))))
            return stored

        store.insert_object = insert_object

    def weight_zero(self, label: str, revision: str) -> float | None:
        """When the first write stored the rollout of `revision` on `label` with weight 0."""
        with self._lock:
            for at, index in self.writes:
                record = index.rollouts.get(label)
                if record is not None and record.state.revision == revision and record.weight == 0:
                    return at
        return None


class RoutedRequests:
    """A `Recorder` in front of the metrics recorder that remembers when each request was routed (the
    record's time minus its latency) and to which version."""

    def __init__(self, inner: BatchingRecorder) -> None:
        self.inner = inner
        self.routed: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.routed.append((record.at - record.latency_s, record.version))
        self.inner.record(record)

    def record_feedback(self, feedback: Feedback) -> None:
        self.inner.record_feedback(feedback)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()

    def last(self, version: str) -> float | None:
        """When the last request served by `version` was routed."""
        with self._lock:
            times = [t for t, v in self.routed if v == version]
        return max(times) if times else None

    def after(self, version: str, at: float) -> int:
        """How many requests served by `version` were routed after `at`."""
        with self._lock:
            return sum(1 for t, v in self.routed if v == version and t > at)


class Users:
    """Simulated users on the runtime client: thread n asks as users u<n>, u<n+threads>, ... in turn."""

    def __init__(self, client: GenAIClient, *, threads: int, users: int = 400) -> None:
        self.client, self.users = client, users
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, args=(n, threads), daemon=True) for n in range(threads)]
        for worker in self._workers:
            worker.start()

    def _run(self, first: int, step: int) -> None:
        turn = first
        while not self._stop.is_set():
            key = f"u{turn % self.users}"
            with contextlib.suppress(GenaiopsError):  # a failed call is recorded with the version that served it
                self.client.generate(PROMPT_NAME, {"question": f"question {turn}"}, label=LABEL, routing_key=key)
            turn += step
            self._stop.wait(0.005)

    def stop(self) -> None:
        """Stop asking and wait for the requests in flight."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)


def _write_prompt(path: Path, *, model: str, variant: str, settings: dict[str, object]) -> None:
    text = PROMPT.format(name=PROMPT_NAME, label=LABEL, model=model, variant=variant, **settings)
    path.write_text(text, encoding="utf-8")


def run_trial(
    index: int, root: Path, target: str, writes: IndexWrites, routed: RoutedRequests, settings: dict[str, object]
) -> Trial:
    """Change the prompt to a new erroring candidate, `apply --wait` it, read the timings off the audit log,
    the store's writes and the runtime client's requests."""
    _write_prompt(root / "manifests" / "prompt.yaml", model="gemini-bad", variant=f"bad {index}", settings=settings)
    audit = root / "audit.log"
    before = len(audit.read_text(encoding="utf-8").splitlines()) if audit.exists() else 0
    manifests, log = str(root / "manifests"), str(audit)
    code = rollback_bench._genaiops(
        "apply", manifests, "--auto-approve", "--wait", "--audit-log", log, "--emulator", target
    )
    if code != 1:
        raise SystemExit(f"prompt trial {index}: apply --wait exited {code}, expected 1 (rolled back)")
    time.sleep(TTL_S + 0.5)  # requests routed before the client saw weight 0 finish and are recorded
    new = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()[before:] if line.strip()]
    rollout = [r for r in new if str(r.get("event", "")).startswith("rollout-") and r.get("kind") == "Prompt"]
    failures = [r for r in rollout if rollback_bench._failed(r)]
    aborted = next((r for r in rollout if r["event"] == "rollout-aborted"), None)
    if not failures or aborted is None:
        raise SystemExit(f"prompt trial {index}: no failing measurement or no rollout-aborted event")
    revision = str(aborted["revision"])
    weight_zero = writes.weight_zero(LABEL, revision)
    if weight_zero is None:
        raise SystemExit(f"prompt trial {index}: no index write set version {revision}'s weight to 0")
    return Trial(
        failures[0]["at"], failures[-1]["at"], weight_zero, routed.last(revision), routed.after(revision, weight_zero)
    )


def _line(name: str, seconds: list[float], interval: float) -> str:
    median, worst = statistics.median(seconds), max(seconds)
    return (
        f"{name:<34} median {median / interval:5.2f} intervals ({median:6.3f} s)   "
        f"max {worst / interval:5.2f} intervals ({worst:6.3f} s)"
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--interval", type=int, default=1, help="Analysis interval, whole seconds.")
    parser.add_argument("--failure-limit", type=int, default=1, help="failureLimit (the default is 1).")
    parser.add_argument("--users", type=int, default=8, help="Threads of simulated users on the runtime client.")
    parser.add_argument("--rps", type=float, default=100.0, help="Synthetic requests/s on the baseline's endpoint.")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the endpoint trials (rollback_bench).")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    return args


def _runtime_client(emulator: Emulator) -> tuple[GenAIClient, RoutedRequests]:
    """The application's side: prompts from the emulator's Cloud Storage, Gemini over REST, metrics to the
    emulator's Cloud Monitoring every 0.5 s; no cache and no retries, so every request reaches the model."""
    channel, info = connect_emulator(emulator.grpc_target)
    channel.close()
    store = open_store(STORE, client=emulator_storage_client(info, project=PROJECT), retry_deadline_s=2)
    prompts = PromptClient(store, project=PROJECT, ttl_s=TTL_S)
    models = vertex_models(
        project=PROJECT, location="us-central1", grpc_target=emulator.grpc_target, genai_base_url=emulator.rest_endpoint
    )
    metrics = cloud_monitoring_recorder(
        project=PROJECT, emulator=emulator.grpc_target, interval_s=0.5, min_spacing_s=0.5
    )
    routed = RoutedRequests(metrics)
    client = GenAIClient(prompts, models, recorder=routed, cache="off", max_attempts=1, project=PROJECT)
    return client, routed


def main() -> None:
    """Run the trials and print the figures."""
    args = _arguments()
    settings: dict[str, object] = {
        "interval": args.interval,
        "pause": 2 * args.interval,
        "failure_limit": args.failure_limit,
    }
    started = time.monotonic()
    trials: list[Trial] = []
    baseline: list[rollback_bench.Trial] = []
    with tempfile.TemporaryDirectory(prefix="prompt-rollback-bench-") as tmp:
        prompt_root, endpoint_root = Path(tmp) / "prompt", Path(tmp) / "endpoint"
        for root in (prompt_root, endpoint_root):
            (root / "manifests").mkdir(parents=True)
        os.chdir(endpoint_root)  # rollback_bench's trial applies `manifests` relative to the working directory
        options: dict[str, Any] = {"traffic_tick_s": 0.2, "min_alignment_period_s": 1, "min_point_spacing_s": 0.5}
        traffic = 0.0 if args.no_baseline else args.rps
        with running(traffic_rps=traffic, gemini_models=GEMINI, **options) as emulator:
            target = emulator.grpc_target
            writes = IndexWrites(emulator, INDEX_OBJECT)
            calls = rollback_bench.CallLog(emulator)
            (prompt_root / "manifests" / "models.yaml").write_text(MODELS, encoding="utf-8")
            _write_prompt(
                prompt_root / "manifests" / "prompt.yaml", model="gemini-stable", variant="stable", settings=settings
            )
            if rollback_bench._genaiops(
                "apply", str(prompt_root / "manifests"), "--auto-approve", "--emulator", target
            ):
                raise SystemExit("the initial apply of the prompt failed")
            if not args.no_baseline:
                artifact = "gs://emulator-models/llm/v1"
                (endpoint_root / "manifests" / "model.yaml").write_text(rollback_bench.MODEL.format(artifact=artifact))
                (endpoint_root / "manifests" / "endpoint.yaml").write_text(rollback_bench.ENDPOINT.format(**settings))
                if rollback_bench._genaiops("apply", "manifests", "--auto-approve", "--emulator", target):
                    raise SystemExit("the initial apply of the endpoint failed")
            client, routed = _runtime_client(emulator)
            users = Users(client, threads=args.users)
            try:
                time.sleep(2.0)  # the stable version has served for a while before the first canary
                for index in range(args.trials):
                    trial = run_trial(index, prompt_root, target, writes, routed, settings)
                    trials.append(trial)
                    seen = "none routed" if trial.seen is None else f"{trial.seen - trial.weight_zero:6.3f} s"
                    line = (
                        f"trial {index + 1:2d}: prompt breach -> weight 0 {trial.weight_zero - trial.breach:6.3f} s, "
                        f"decision -> weight 0 {trial.weight_zero - trial.decision:6.3f} s, "
                        f"weight 0 -> last candidate request {seen} ({trial.late} after the write)"
                    )
                    if not args.no_baseline:
                        endpoint = rollback_bench.run_trial(index, endpoint_root, target, calls, settings)
                        baseline.append(endpoint)
                        line += f"; endpoint breach -> restored {endpoint.restored - endpoint.breach:6.3f} s"
                    print(line, flush=True)
            finally:
                users.stop()
                client.close()
                routed.close()
    _report(args, trials, baseline, total_s=time.monotonic() - started)


def _report(
    args: argparse.Namespace, trials: list[Trial], baseline: list[rollback_bench.Trial], *, total_s: float
) -> None:
    interval = float(args.interval)
    breach = [t.weight_zero - t.breach for t in trials]
    decision = [t.weight_zero - t.decision for t in trials]
    # 0 when the client routed nothing to the candidate after the write (it had already seen weight 0)
    seen = [max(0.0, t.seen - t.weight_zero) if t.seen is not None else 0.0 for t in trials]
    stops = [max(t.seen, t.weight_zero) - t.breach if t.seen is not None else t.weight_zero - t.breach for t in trials]
    print(
        f"\n{len(trials)} erroring prompt canaries (error rate {ERROR_RATE:g} vs max 0.05), analysis interval "
        f"{interval:g} s, failureLimit {args.failure_limit}, {args.users} user threads on the runtime client "
        f"(prompt TTL {TTL_S:g} s), store {STORE} on the emulator:"
    )
    print(_line("breach -> weight 0", breach, interval))
    print(_line("decision -> weight 0", decision, interval))
    print(_line("(breach -> decision)", [t.decision - t.breach for t in trials], interval))
    print(_line("weight 0 -> last candidate request", seen, interval))
    print(_line("breach -> last candidate request", stops, interval))
    late = [t.late for t in trials]
    print(
        f"requests routed to the candidate after the weight-0 write: median {statistics.median(late):g}, "
        f"max {max(late)} a trial"
    )
    allowed = interval * (1 if args.failure_limit else 0)
    worst_write = max(b - allowed for b in breach)
    print(
        f"bound: weight 0 within {allowed / interval:g} interval(s) plus one store write; worst trial exceeds "
        f"{allowed:g} s by {worst_write * 1000:.0f} ms."
    )
    if baseline:
        restored = [t.restored - t.breach for t in baseline]
        decided = [t.restored - t.decision for t in baseline]
        print(f"baseline, {len(baseline)} erroring endpoint canaries (rollback_bench) in the same run:")
        print(_line("endpoint breach -> restored", restored, interval))
        print(_line("endpoint decision -> restored", decided, interval))
        print(_line("(endpoint breach -> decision)", [t.decision - t.breach for t in baseline], interval))
        print(
            f"prompt / endpoint: breach median x{statistics.median(breach) / statistics.median(restored):.2f}, "
            f"max x{max(breach) / max(restored):.2f}; decision median "
            f"{(statistics.median(decision) - statistics.median(decided)) * 1000:+.0f} ms"
        )
    else:
        print("baseline skipped (--no-baseline): run benchmarks/rollback_bench.py for the endpoint figure.")
    print(f"Total {total_s:.0f} s.")


if __name__ == "__main__":
    main()
