"""The evaluation gate's pure core: scorers, the gate verdict, and reading evaluation examples.

Place in the flow: between a succeeded TuningJob and anything that may route traffic to its tuned model.
The engine reads the evaluation Dataset (`examples_of`), gets the tuned model's answers through its ports,
and calls `score`; the `GateResult` is written as a report (`to_json`) and recorded as labels (`labels`).
Imports only the model; never google, click, the engine or providers (import-linter contracts).
"""

from __future__ import annotations

from controller.evaluation.examples import Example, examples_of
from controller.evaluation.gate import GATE_HASH_LABEL, GATE_LABEL, GateResult, MetricResult, score
from controller.evaluation.scorers import (
    BUILTINS,
    ENV_ALLOWED,
    Scorer,
    ScorerError,
    allowed_from_env,
    exact_match,
    json_valid,
    load_scorer,
    resolve,
    rouge_l,
)

__all__ = [
    "BUILTINS",
    "ENV_ALLOWED",
    "GATE_HASH_LABEL",
    "GATE_LABEL",
    "Example",
    "GateResult",
    "MetricResult",
    "Scorer",
    "ScorerError",
    "allowed_from_env",
    "exact_match",
    "examples_of",
    "json_valid",
    "load_scorer",
    "resolve",
    "rouge_l",
    "score",
]
