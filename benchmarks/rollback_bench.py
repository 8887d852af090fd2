"""Benchmark: time from breach to traffic restored when a canary misbehaves (issue 5's rollback bound).

Each trial bumps the `llm` model to a new emulator version that fails half of its predictions and runs
`genaiops apply --wait` in-process against an emulator with synthetic traffic. Per trial it measures:

- breach: the first failing measurement (its `rollout-measured` event, taken right after the metric
  queries of that analysis; i.e. the window end plus a few milliseconds of ListTimeSeries);
- decision: the measurement that trips `failureLimit` (the same one when failureLimit is 0);
- restored: when the emulator received the UpdateEndpoint that moved all traffic back to the stable
  deployed model (the last UpdateEndpoint before the `rollout-aborted` event, recorded server-side).

It prints breach -> restored and decision -> restored, median and max, in units of the analysis interval
and in seconds. The bound (issue 5): traffic restored within one analysis interval plus one API call after
the failing measurement. With the default failureLimit 1 the first failure is tolerated and the next
measurement, one interval later, rolls back; with failureLimit 0 the rollback follows the first one.

    python benchmarks/rollback_bench.py [--trials 20] [--interval 1] [--failure-limit 1] [--rps 100]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.cli.main import cli
from controller.emulator.server import Emulator, running

MODEL = """\
apiVersion: genaiops/v1
kind: Model
metadata: {{name: llm}}
spec:
  upload:
    artifactUri: {artifact}
    servingContainer: {{imageUri: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest}}
"""

ENDPOINT = """\
apiVersion: genaiops/v1
kind: Endpoint
metadata: {{name: chat}}
spec:
  deployments: [{{name: primary, model: llm}}]
  traffic: {{primary: 100}}
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
    """One erroring canary's timings (unix seconds)."""

    breach: float
    decision: float
    restored: float


class CallLog:
    """Server-side arrival times of the emulator's RPCs (wraps the fault hook the gRPC adapter calls)."""

    def __init__(self, emulator: Emulator) -> None:
        self.calls: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        original = emulator.faults.before_call

        def before_call(full_name: str) -> None:
            with self._lock:
                self.calls.append((time.time(), full_name.rpartition("/")[2]))
            original(full_name)

        emulator.faults.before_call = before_call  # type: ignore[method-assign]

    def last(self, method: str, before: float) -> float | None:
        """When the last call of `method` arrived at or before `before`."""
        with self._lock:
            times = [t for t, m in self.calls if m == method and t <= before]
        return max(times) if times else None


def _genaiops(*argv: str) -> int:
    """Run the CLI in-process, its output discarded; the exit code."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.main(args=list(argv), prog_name="genaiops", standalone_mode=False)
        except SystemExit as done:
            return int(done.code or 0)
    return 0


def _events(audit: Path, revision: str | None = None) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        r for r in records if str(r.get("event", "")).startswith("rollout-") and r.get("revision", revision) == revision
    ]


def _failed(event: dict[str, Any]) -> bool:
    return event["event"] == "rollout-measured" and any(m["verdict"] == "failed" for m in event["measurements"])


def run_trial(index: int, root: Path, target: str, calls: CallLog, settings: dict[str, object]) -> Trial:
    """Bump to a new erroring version, `apply --wait` it, and read the timings off the audit log."""
    artifact = f"gs://emulator-models/llm/bad{index}?error_rate=0.5"
    (root / "manifests" / "model.yaml").write_text(MODEL.format(artifact=artifact), encoding="utf-8")
    (root / "manifests" / "endpoint.yaml").write_text(ENDPOINT.format(**settings), encoding="utf-8")
    audit = root / "audit.log"
    before = len(audit.read_text(encoding="utf-8").splitlines()) if audit.exists() else 0
    code = _genaiops("apply", "manifests", "--auto-approve", "--wait", "--audit-log", str(audit), "--emulator", target)
    if code != 1:
        raise SystemExit(f"trial {index}: apply --wait exited {code}, expected 1 (rolled back)")
    lines = audit.read_text(encoding="utf-8").splitlines()[before:]
    new = [json.loads(line) for line in lines if line.strip()]
    rollout = [r for r in new if str(r.get("event", "")).startswith("rollout-")]
    failures = [r for r in rollout if _failed(r)]
    aborted = next(r for r in rollout if r["event"] == "rollout-aborted")
    restored = calls.last("UpdateEndpoint", before=aborted["at"])
    if not failures or restored is None:
        raise SystemExit(f"trial {index}: no failing measurement or no UpdateEndpoint before the rollback")
    return Trial(breach=failures[0]["at"], decision=failures[-1]["at"], restored=restored)


def _line(name: str, seconds: list[float], interval: float) -> str:
    median, worst = statistics.median(seconds), max(seconds)
    return (
        f"{name:<22} median {median / interval:5.2f} intervals ({median:6.3f} s)   "
        f"max {worst / interval:5.2f} intervals ({worst:6.3f} s)"
    )


def main() -> None:
    """Run the trials and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--interval", type=int, default=1, help="Analysis interval, whole seconds.")
    parser.add_argument("--failure-limit", type=int, default=1, help="failureLimit (the default is 1).")
    parser.add_argument("--rps", type=float, default=100.0, help="Synthetic requests/s on the endpoint.")
    args = parser.parse_args()
    settings: dict[str, object] = {
        "interval": args.interval,
        "pause": 2 * args.interval,
        "failure_limit": args.failure_limit,
    }
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rollback-bench-") as tmp:
        root = Path(tmp)
        (root / "manifests").mkdir()
        os.chdir(root)
        options: dict[str, Any] = {"traffic_tick_s": 0.2, "min_alignment_period_s": 1}
        with running(rest_port=None, storage_port=None, traffic_rps=args.rps, **options) as emulator:
            calls = CallLog(emulator)
            (root / "manifests" / "model.yaml").write_text(MODEL.format(artifact="gs://emulator-models/llm/v1"))
            (root / "manifests" / "endpoint.yaml").write_text(ENDPOINT.format(**settings))
            if _genaiops("apply", "manifests", "--auto-approve", "--emulator", emulator.grpc_target) != 0:
                raise SystemExit("the initial apply failed")
            trials = []
            for index in range(args.trials):
                trial = run_trial(index, root, emulator.grpc_target, calls, settings)
                trials.append(trial)
                print(
                    f"trial {index + 1:2d}: breach -> restored {trial.restored - trial.breach:6.3f} s, "
                    f"decision -> restored {trial.restored - trial.decision:6.3f} s",
                    flush=True,
                )
    interval = float(args.interval)
    breach = [t.restored - t.breach for t in trials]
    decision = [t.restored - t.decision for t in trials]
    print(
        f"\n{len(trials)} erroring canaries (error rate 0.5 vs max 0.05), analysis interval {interval:g} s, "
        f"failureLimit {args.failure_limit}, {args.rps:g} requests/s:"
    )
    print(_line("breach -> restored", breach, interval))
    print(_line("decision -> restored", decision, interval))
    allowed = interval * (1 if args.failure_limit else 0)
    worst_call = max(b - allowed for b in breach)
    print(
        f"bound: within {allowed / interval:g} interval(s) plus one API call; worst trial exceeds "
        f"{allowed:g} s by {worst_call * 1000:.0f} ms. Total {time.monotonic() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
