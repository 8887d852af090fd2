"""Analysis thresholds carry their units: latency thresholds are durations (normalised to seconds), error
rates fractions or percentages (normalised to a fraction), request-count and custom queries plain numbers;
a number that cannot mean what it looks like is refused with how to write it; the manifest keeps what was
written (so specs hash as before), and the JSON Schema accepts and refuses the same forms as the model."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from controller.model import Metric
from controller.model.metric_thresholds import Unit
from controller.model.schema import json_schemas

CUSTOM = {"filter": 'metric.type="custom.googleapis.com/tps"'}

# (metric as written, unit, lower, upper, increase) -- the normalised values the analysis judges with
VALID: list[tuple[dict[str, Any], Unit, float | None, float | None, float | None]] = [
    ({"name": "latency-p99", "maxMs": 1500}, Unit.SECONDS, None, 1.5, None),
    ({"name": "latency-p99", "max": "1.5s"}, Unit.SECONDS, None, 1.5, None),
    ({"name": "latency-p99", "max": "300ms"}, Unit.SECONDS, None, 0.3, None),
    ({"name": "latency-p95", "max": "2s", "min": "10ms"}, Unit.SECONDS, 0.01, 2.0, None),
    ({"name": "latency-p50", "min": "0s"}, Unit.SECONDS, 0.0, None, None),
    ({"name": "latency-p50", "maxMs": 0.5}, Unit.SECONDS, None, 0.0005, None),
    ({"name": "error-rate", "max": 0.02}, Unit.FRACTION, None, 0.02, None),
    ({"name": "error-rate", "max": "2%"}, Unit.FRACTION, None, 0.02, None),
    ({"name": "error-rate", "max": "0.5%"}, Unit.FRACTION, None, 0.005, None),
    ({"name": "error-rate", "max": 1, "min": 0}, Unit.FRACTION, 0.0, 1.0, None),
    ({"name": "error-rate", "max": "100%"}, Unit.FRACTION, None, 1.0, None),
    ({"name": "error-rate", "maxIncrease": 0.5}, Unit.FRACTION, None, None, 0.5),
    ({"name": "error-rate", "maxIncrease": "50%"}, Unit.FRACTION, None, None, 0.5),
    ({"name": "latency-p99", "maxIncrease": "250%"}, Unit.SECONDS, None, None, 2.5),
    ({"name": "latency-p99", "maxIncrease": 10}, Unit.SECONDS, None, None, 10.0),
    ({"name": "request-count", "min": 100}, Unit.NUMBER, 100.0, None, None),
    ({"name": "tps", "query": CUSTOM, "max": 1500, "min": -3}, Unit.NUMBER, -3.0, 1500.0, None),
    ({"name": "latency-p99", "query": CUSTOM, "max": 1.5}, Unit.NUMBER, None, 1.5, None),  # a query's own unit
    ({"name": "error-rate", "query": CUSTOM, "max": 2}, Unit.NUMBER, None, 2.0, None),
]


def _id(written: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in written.items() if k != "query") + (" (query)" if "query" in written else "")


@pytest.mark.parametrize(("written", "unit", "lower", "upper", "increase"), VALID, ids=[_id(c[0]) for c in VALID])
def test_a_threshold_is_normalised_once_in_the_model(
    written: dict[str, Any], unit: Unit, lower: float | None, upper: float | None, increase: float | None
) -> None:
    metric = Metric.model_validate(written)
    assert (metric.unit, metric.lower, metric.upper, metric.increase) == (unit, lower, upper, increase)


@pytest.mark.parametrize("written", [c[0] for c in VALID], ids=[_id(c[0]) for c in VALID])
def test_the_manifest_keeps_what_was_written_and_reads_back_the_same(written: dict[str, Any]) -> None:
    metric = Metric.model_validate(written)
    dumped = metric.model_dump(by_alias=True, exclude_none=True, mode="json")
    for key, value in written.items():
        if key != "query":
            assert dumped[key] == value, key  # `1.5s` stays `1.5s`, `maxMs: 1500` stays a number
    again = Metric.model_validate(dumped)
    assert again == metric and (again.lower, again.upper, again.increase) == (
        metric.lower,
        metric.upper,
        metric.increase,
    )


# (metric as written, the field the error points at, a fragment of the message)
INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"name": "latency-p99", "max": 1.5}, "max", "1.5 has no unit: a latency threshold is a duration; write max: 1.5s"),
    ({"name": "latency-p99", "max": 1500}, "max", "write max: 1500ms or max: 1.5s (or maxMs: 1500)"),
    ({"name": "latency-p50", "min": 5}, "min", "5 has no unit: a latency threshold is a duration; write min: 5s"),
    (
        {"name": "latency-p99", "max": "1.5 sec"},
        "max",
        "'1.5 sec' is not a latency threshold: write a number with ms or s",
    ),
    ({"name": "latency-p99", "max": "2%"}, "max", "'2%' is not a latency threshold"),
    ({"name": "latency-p99", "max": "1m"}, "max", "'1m' is not a latency threshold"),
    ({"name": "latency-p99", "max": "0ms"}, "max", "max must be above 0"),
    ({"name": "error-rate", "max": 2}, "max", "2 is not a fraction; write 0.02 or 2%"),
    ({"name": "error-rate", "min": 5}, "min", "5 is not a fraction; write 0.05 or 5%"),
    ({"name": "error-rate", "max": 250}, "max", "250 is not a fraction: an error rate is between 0 and 1"),
    ({"name": "error-rate", "max": -0.1}, "max", "-0.1 is not a fraction"),
    ({"name": "error-rate", "max": "150%"}, "max", "150% is more than 100%"),
    ({"name": "error-rate", "max": "0.02"}, "max", "'0.02' is not a rate: write a fraction such as 0.02 (no quotes)"),
    ({"name": "error-rate", "max": "1s"}, "max", "'1s' is not a rate"),
    ({"name": "error-rate", "max": True}, "max", "expected a number or a value with a unit (got True)"),
    ({"name": "request-count", "min": "5%"}, "min", "request-count takes a plain number (got '5%')"),
    ({"name": "tps", "query": CUSTOM, "max": "1.5s"}, "max", "a metric with a query takes a plain number"),
    ({"name": "error-rate", "maxIncrease": 50}, "maxIncrease", "for 50% higher write 0.5 or 50%"),
    ({"name": "error-rate", "maxIncrease": -0.5}, "maxIncrease", "maxIncrease must be 0 or more"),
    ({"name": "error-rate", "maxIncrease": "half"}, "maxIncrease", "'half' is not an increase"),
    ({"name": "latency-p99", "max": "1s", "maxMs": 900}, "", "give 'max' or 'maxMs', not both"),
    ({"name": "error-rate", "maxMs": 900}, "", "'maxMs' applies only to latency metrics"),
    ({"name": "latency-p99", "min": "2s", "max": "1s"}, "", "min (2s) is greater than max (1s)"),
    ({"name": "error-rate", "min": "5%", "max": 0.01}, "", "min (5%) is greater than max (0.01)"),
]


@pytest.mark.parametrize(("written", "field", "fragment"), INVALID, ids=[_id(c[0]) for c in INVALID])
def test_a_threshold_without_its_unit_is_refused_saying_how_to_write_it(
    written: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Metric.model_validate(written)
    errors = caught.value.errors()
    assert len(errors) == 1, errors  # one message, not one per member of a union
    assert ".".join(str(p) for p in errors[0]["loc"]) == field
    assert fragment in errors[0]["msg"], errors[0]["msg"]


def test_a_bad_threshold_under_a_bad_name_is_one_message_each() -> None:
    with pytest.raises(ValidationError) as caught:
        Metric.model_validate({"name": "Bad", "max": "zz"})
    assert [e["loc"] for e in caught.value.errors()] == [("name",), ("max",)]
    assert re.search(r"'zz' is not a threshold", caught.value.errors()[1]["msg"])


def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json_schemas()["endpoint.schema.json"]
    metric = {"$defs": schema["$defs"], **schema["$defs"]["Metric"]}
    return jsonschema.Draft202012Validator(metric)


# The schema states each metric's form; bounds it leaves to the model: a latency `max` of zero.
SCHEMA_CASES = [(c[0], True) for c in VALID] + [
    (c[0], False) for c in INVALID if c[1] in ("min", "max") and c[0].get("max") != "0ms"
]


@pytest.mark.parametrize(("written", "valid"), SCHEMA_CASES, ids=[_id(c[0]) for c in SCHEMA_CASES])
def test_the_json_schema_accepts_and_refuses_the_same_threshold_forms(written: dict[str, Any], valid: bool) -> None:
    errors = list(_schema_validator().iter_errors(written))
    assert (not errors) == valid, [e.message for e in errors]
