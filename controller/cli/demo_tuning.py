"""The demo's tuning part: the bundled support dataset (manifests/data/support-sft.jsonl) is validated and
split with `genaiops data`, declared as Datasets and a TuningJob gated by an evaluation (exact match on the
held-out split, and support-answer's prompt tests), tuned on the emulated GenAiTuningService, and, once the
tuned model passed its gate, `support-answer` moves to it through its canary (the simulated customers keep
asking). Then a broken dataset stops at validation, and a tuned model that fails its gate never reaches
the prompt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from controller.cli.console import rule

DATA = Path("data") / "support-sft.jsonl"
TUNING = """\
# Written by `genaiops demo`: the support dataset, split, and a tuning job gated by an evaluation.
apiVersion: genaiops/v1
kind: Dataset
metadata: {{name: support-train}}
spec: {{source: data/support-sft.train.jsonl}}
---
apiVersion: genaiops/v1
kind: Dataset
metadata: {{name: support-heldout}}
spec: {{source: data/support-sft.validation.jsonl}}
---
apiVersion: genaiops/v1
kind: TuningJob
metadata: {{name: support-tuned}}
spec:
  baseModel: gemini-3.5-flash
  trainingDataset: support-train
  validationDataset: support-heldout
  hyperParameters: {{epochs: 3, adapterSize: 4}}
  tunedModelDisplayName: "{display}"
  evaluation:
    prompts: [support-answer]          # its tests run live against the tuned model
    dataset: support-heldout
    metrics:
      - {{name: exact-match, min: 0.8}}
      - {{name: rouge-l, min: 0.8}}
"""


def _write_tuning(manifests: Path, display: str) -> None:
    (manifests / "tuning.yaml").write_text(TUNING.format(display=display), encoding="utf-8")


def _settle(seconds: float) -> None:
    time.sleep(seconds)  # the emulated tuning job runs for a few seconds, as a real one runs for hours


def tuning_part(
    console: Console,
    *,
    step: int,
    manifests: Path,
    common: list[str],
    run: Callable[[Console, list[str]], int],
    tuning_s: float,
) -> bool:
    """Validate, split, tune, gate, roll out; then a broken dataset and a failing gate. True when every
    stage ended as it should."""
    data = manifests / DATA
    plan_args = ["plan", str(manifests), *common[:2], *common[4:]]
    console.print(rule(f"{step}. Data -> tune -> evaluate -> roll out: support-answer moves to a tuned model"))
    ok = run(console, ["data", "validate", str(data)]) == 0
    ok &= run(console, ["data", "split", str(data), "--validation", "0.2", "--seed", "7"]) == 0
    _write_tuning(manifests, "support-tuned")
    prompts = manifests / "prompts.yaml"
    text = prompts.read_text(encoding="utf-8")
    prompts.write_text(
        text.replace(
            "  model: gemini-flash\n  templateFile: prompts/support-answer.j2",
            "  model: support-tuned\n  templateFile: prompts/support-answer.j2",
            1,
        ),
        encoding="utf-8",
    )
    ok &= run(console, ["apply", str(manifests), "--auto-approve", *common]) == 0  # uploads, starts the job
    _settle(tuning_s)
    ok &= run(console, ["apply", str(manifests), "--auto-approve", *common]) == 0  # the gate
    ok &= run(console, ["apply", str(manifests), "--auto-approve", "--wait", *common]) == 0  # the canary
    console.print(rule(f"{step + 1}. A broken dataset stops at validation"))
    broken = manifests / "data" / "support-sft.train.jsonl"
    good = broken.read_text(encoding="utf-8")
    broken.write_text(
        good + '{"contents": [{"role": "model", "parts": [{"text": "no question"}]}]}\n', encoding="utf-8"
    )
    stopped = run(console, ["data", "validate", str(broken)]) == 1
    stopped &= run(console, plan_args) == 1
    broken.write_text(good, encoding="utf-8")
    console.print(rule(f"{step + 2}. A tuned model that fails its gate never reaches the prompt"))
    _write_tuning(manifests, "support-tuned;quality=bad")  # the emulator's tuned model answers badly
    ok &= run(console, ["apply", str(manifests), "--auto-approve", *common]) == 0
    _settle(tuning_s)
    ok &= run(console, ["apply", str(manifests), "--auto-approve", *common]) == 0  # the gate fails
    run(console, ["status", str(manifests), *common[:2], *common[4:]])
    return ok and stopped
