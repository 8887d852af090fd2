"""Builders for the rollout core's tests: specs, states, live endpoints and measurements in a few words,
and the loader of the YAML case tables in tests/cases/rollout/ (one `pytest.param` per case)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import strategies as st

from controller.model import Analysis, Rollout
from controller.observed import ObservedEndpoint
from controller.rollout.reason import Kind, Reason
from controller.rollout.state import Phase, RolloutState
from controller.rollout.strategy import CompiledStep, compile_steps
from controller.rollout.verdicts import Bound, Breach, Measurement, Shortfall, Verdict
from tests.builders import deployed, live_endpoint

CASES = Path(__file__).resolve().parent / "cases" / "rollout"
REVISION = "5f1c0ffee123"
CANARY_ID = "2000000000000000002"
STABLE_ID = "1000000000000000001"
STARTED = 1_000_000  # unix seconds: when the current step began in most cases
ERROR_RATE = {"name": "error-rate", "max": 0.05}


def load_cases(name: str) -> list[Any]:
    """The cases of `tests/cases/rollout/<name>.yaml`, as pytest params named by their `name`; a case with
    `xfail: "BUG: ..."` is expected to fail (strictly) until the bug is fixed."""
    table = yaml.safe_load((CASES / f"{name}.yaml").read_text(encoding="utf-8"))
    params = []
    for case in table["cases"]:
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if "xfail" in case else []
        params.append(pytest.param(case, id=case["name"], marks=marks))
    return params


def table(name: str) -> dict[str, Any]:
    """The whole YAML document (for shared sections such as named rollouts)."""
    loaded: dict[str, Any] = yaml.safe_load((CASES / f"{name}.yaml").read_text(encoding="utf-8"))
    return loaded


def analysis(**fields: Any) -> Analysis:
    """An Analysis from camelCase fields; by default one metric, error-rate at most 5%."""
    body: dict[str, Any] = {"metrics": [ERROR_RATE], **fields}
    return Analysis.model_validate(body)


def rollout(spec: Mapping[str, Any]) -> Rollout:
    """A canary Rollout from its camelCase manifest form."""
    return Rollout.model_validate({"strategy": "canary", **spec})


def steps_of(spec: Mapping[str, Any]) -> tuple[CompiledStep, ...]:
    """The compiled steps of a canary rollout spec."""
    return compile_steps(rollout(spec))


def state(**fields: Any) -> RolloutState:
    """A progressing rollout of `primary` at step 0, started at STARTED, canary and stable deployed."""
    if "phase" in fields:
        fields["phase"] = Phase(fields["phase"])
    base: dict[str, Any] = {
        "deployment": "primary",
        "revision": REVISION,
        "phase": Phase.PROGRESSING,
        "step": 0,
        "step_started": STARTED,
        "canary_id": CANARY_ID,
        "stable_id": STABLE_ID,
    }
    return RolloutState(**{**base, **fields})


def live(*, canary: bool = True, stable: bool = True, split: Mapping[str, int] | None = None) -> ObservedEndpoint:
    """The endpoint as observed: the stable and/or the canary deployed model of `primary`."""
    models = []
    if stable:
        models.append(deployed(STABLE_ID, "primary", version="1"))
    if canary:
        models.append(deployed(CANARY_ID, "primary", version="2"))
    default = {m.id: 0 for m in models}
    if models:
        default[models[0].id] = 100
    return live_endpoint(models=tuple(models), split=dict(split) if split is not None else default)


def measurement(
    verdict: Verdict | str,
    *,
    metric: str = "error-rate",
    value: float | None = 0.01,
    threshold: str = "max 0.05",
    requests: int = 200,
    shortfall: Shortfall | str | None = None,
    min_requests: int | None = None,
    window_s: float | None = None,
) -> Measurement:
    """One judged measurement (the machine counts verdicts; the reason reads the rest). A failed one breaks
    its written threshold (`max 0.05`, `min 100`, `max 1500 ms`)."""
    judged = Verdict(verdict)
    breach = None
    if judged is Verdict.FAILED and (written := re.fullmatch(r"(min|max) (\S+)( ms)?", threshold)):
        breach = Breach(Bound(written[1]), float(written[2]))
    lacking = Shortfall(shortfall) if shortfall is not None else None
    return Measurement(
        metric,
        value,
        threshold,
        judged,
        requests,
        breach=breach,
        shortfall=lacking,
        min_requests=min_requests,
        window_s=window_s,
    )


METRIC_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True)
NUMBERS = st.floats(allow_nan=False)  # infinities and -0.0 included; NaN never equals itself
COUNTS = st.integers(0, 10**18 - 1)


@st.composite
def reasons(draw: st.DrawFn, kinds: st.SearchStrategy[Kind] | None = None) -> Reason:
    """Any reason a label can hold (of any of `kinds`, by default every kind), each field set or not."""
    bound = draw(st.none() | st.sampled_from(Bound))
    return Reason(
        draw(kinds if kinds is not None else st.sampled_from(Kind)),
        metric=draw(st.just("") | METRIC_NAMES),
        value=draw(st.none() | NUMBERS),
        bound=bound,
        threshold=None if bound is None else draw(NUMBERS),
        baseline=draw(st.none() | NUMBERS),
        requests=draw(st.none() | COUNTS),
        min_requests=draw(st.none() | COUNTS),
        inconclusive=draw(st.none() | COUNTS),
        inconclusive_limit=draw(st.none() | COUNTS),
        window_s=draw(st.none() | st.floats(0, 1e9, exclude_max=True)),
        also_failed=tuple(draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,14}", fullmatch=True), max_size=3))),
        deployed_model=draw(st.just("") | st.from_regex(r"[a-z0-9_-]{1,63}", fullmatch=True)),
    )
