"""`genaiops cost` against the emulator, through the CLI and the real Google clients: an endpoint applied an
hour ago on the emulator's clock (its replica gauge, `prediction/online/replicas`, sampled every 60 s),
prompt calls written by the runtime's real recorder and writer, and a PriceBook given with `-f`.

The emulator's clock runs an hour behind while `apply` deploys, then catches up with real time, so the
first read of the replica gauge finds an hour of samples; the CLI reads up to the real time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.cost.prices import bundled
from controller.providers.metric_writer import CloudMonitoringWriter
from controller.runtime.recorder import BatchingRecorder
from controller.runtime.records import Outcome, RequestRecord, Usage
from tests.e2e.conftest import Workspace, endpoint_yaml, model_yaml

FLASH = "publishers/google/models/gemini-2.5-flash"
DEPLOYMENTS = "[{name: primary, model: llm, machineType: n1-standard-4, minReplicas: 2, maxReplicas: 3}]"
BOOK = """\
apiVersion: genaiops/v1
kind: PriceBook
metadata: {name: negotiated}
spec:
  prices:
    - {kind: node-hour, machineType: n1-standard-4, usd: 0.1, asOf: 2026-01-01, source: contract 42}
"""


class Lagging:
    """The emulator's clock: real time minus `behind` seconds."""

    def __init__(self, behind: float) -> None:
        self.behind = behind

    def __call__(self) -> float:
        return time.time() - self.behind


def _record(workspace: Workspace, *, at: float, prompt: str, calls: int, cache_hits: int = 0) -> None:
    """`calls` model calls of 1,000 input and 200 output tokens (and some cache hits) written by the runtime."""
    writer = CloudMonitoringWriter(project=workspace.emulator.project, emulator=workspace.emulator.grpc_target)
    recorder = BatchingRecorder(writer, clock=lambda: at, background=False, register_atexit=False)
    for i in range(calls + cache_hits):
        hit = i >= calls
        recorder.record(
            RequestRecord(
                request_id=f"r{i}",
                prompt=prompt,
                version="3",
                label="production",
                model=FLASH,
                outcome=Outcome.CACHE_HIT if hit else Outcome.OK,
                latency_s=0.2,
                usage=Usage() if hit else Usage(input_tokens=1000, output_tokens=200),
                cost_usd=0.0 if hit else 0.0008,
                cache_hit=hit,
                at=at,
            )
        )
    recorder.close()
    assert recorder.stats.failed_calls == 0


@pytest.fixture
def served(make_workspace: Callable[..., Workspace]) -> Workspace:
    """Endpoint `chat` (2 x n1-standard-4) deployed an hour ago, and two prompts' calls two minutes ago."""
    clock = Lagging(3600)
    workspace = make_workspace(clock=clock)
    workspace.write(models=model_yaml(), endpoints=endpoint_yaml(deployments=DEPLOYMENTS))
    applied = workspace.apply()
    assert applied.exit_code == 0, applied.output
    clock.behind = 0
    now = time.time()
    _record(workspace, at=now - 120, prompt="support-answer", calls=10, cache_hits=5)
    _record(workspace, at=now - 120, prompt="triage", calls=4)
    return workspace


def _cost(workspace: Workspace, *args: str) -> dict[str, Any]:
    result = workspace.run("cost", "--since", "2h", "--output", "json", *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.output)
    return document


def _flash_usd(calls: int) -> float:
    table = bundled()
    input_price = table.tokens(model=FLASH, kind="input", prompt_tokens=1000)
    output_price = table.tokens(model=FLASH, kind="output", prompt_tokens=1000)
    assert input_price is not None and output_price is not None
    return calls * (1000 * input_price.usd + 200 * output_price.usd) / 1_000_000


def test_cost_prices_an_hour_of_two_replicas_and_each_prompts_tokens(served: Workspace) -> None:
    document = _cost(served)

    assert document["schema"] == "genaiops.dev/cost-report/v1"
    node = bundled().node_hour(region="us-central1", machine_type="n1-standard-4")
    assert node is not None
    (serving,) = [i for i in document["items"] if i["kind"] == "serving"]
    assert (serving["endpoint"], serving["model"], serving["detail"]["machine_type"]) == (
        "chat",
        "llm",
        "n1-standard-4",
    )
    assert serving["quantity"] == pytest.approx(2.0, abs=2 * 2 / 60)  # 2 replicas x ~60 one-minute samples
    assert serving["detail"]["mean_replicas"] == pytest.approx(2.0)
    assert serving["usd"] == pytest.approx(serving["quantity"] * node.usd)
    tokens = {i["prompt"]: i for i in document["items"] if i["kind"] == "tokens"}
    assert set(tokens) == {"support-answer", "triage"}
    assert tokens["support-answer"]["detail"]["model_calls"] == 10  # the 5 cache hits reached no model
    assert tokens["support-answer"]["usd"] == pytest.approx(_flash_usd(10))
    assert tokens["support-answer"]["detail"]["recorded_usd"] == pytest.approx(10 * 0.0008)
    assert tokens["triage"]["usd"] == pytest.approx(_flash_usd(4))
    groups = {g["endpoint"]: g for g in document["groups"]}
    assert groups["chat"]["usd"] == pytest.approx(serving["usd"])
    assert groups["-"]["tokens_usd"] == pytest.approx(_flash_usd(14))
    assert document["total"]["usd"] == pytest.approx(serving["usd"] + _flash_usd(14))
    assert (document["total"]["unpriced"], document["unpriced"]) == (0, [])


def test_cost_by_prompt_puts_the_endpoint_under_no_prompt(served: Workspace) -> None:
    groups = {g["prompt"]: g for g in _cost(served, "--by", "prompt")["groups"]}
    assert list(groups) == ["support-answer", "triage", "-"]
    assert groups["triage"]["usd"] == pytest.approx(_flash_usd(4))
    assert groups["-"]["node_hours"] == pytest.approx(2.0, abs=0.07)


def test_a_price_book_given_with_f_wins_over_the_bundled_node_hour(served: Workspace, tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    (books / "book.yaml").write_text(BOOK, encoding="utf-8")
    document = _cost(served, "-f", str(books))
    (serving,) = [i for i in document["items"] if i["kind"] == "serving"]
    assert serving["usd"] == pytest.approx(serving["quantity"] * 0.1)
    assert serving["sources"] == ["PriceBook negotiated: contract 42 (2026-01-01)"]
    assert "overridden by PriceBook negotiated" in document["prices"]


def test_the_human_report_has_a_row_per_endpoint_and_a_total(served: Workspace) -> None:
    result = served.run("cost", "--since", "2h")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.split()[:1] == ["chat"] for line in lines), result.output
    assert any(line.split()[:1] == ["total"] for line in lines), result.output
    assert "prices: genaiops bundled table" in result.output
