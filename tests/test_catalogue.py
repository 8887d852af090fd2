"""The bundled Vertex AI prediction catalogue is consistent, dated, sourced and shipped; its rules name the
nearest valid value for a typo and the combinations that exist for a machine type."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

import pytest
import yaml
from google.cloud import aiplatform_v1 as v1

from controller.model.catalogue import (
    CatalogueError,
    accelerator_problem,
    catalogue_text,
    combination_problem,
    machine_spec_problem,
    machine_type_problem,
    parse,
    region_problem,
    vertex_catalogue,
)
from controller.model.suggest import closest, did_you_mean, join_or

ROOT = Path(__file__).resolve().parent.parent
CAT = vertex_catalogue()
API_ACCELERATORS = {a.name for a in v1.AcceleratorType} - {"ACCELERATOR_TYPE_UNSPECIFIED"}


# --- Consistency -------------------------------------------------------------------------------------------


def test_the_catalogue_is_dated_and_every_source_has_a_url_and_a_read_date() -> None:
    assert date.fromisoformat(CAT.read_on) <= date.today()
    assert CAT.sources
    for source in CAT.sources.values():
        assert source.url.startswith("https://"), source.key
        assert date.fromisoformat(source.read) <= date.today(), source.key
        assert source.confirmed, f"{source.key} says nothing about what it confirmed"


def test_unconfirmed_parts_are_marked_in_the_file() -> None:
    text = catalogue_text()
    assert "UNCONFIRMED" in text
    unconfirmed = [m for m in CAT.machine_types.values() if not m.confirmed]
    assert all(CAT.sources[m.source].unconfirmed for m in unconfirmed), "an unconfirmed entry's source says why"


def test_every_accelerator_is_a_real_api_accelerator_type() -> None:
    assert set(CAT.accelerators) <= API_ACCELERATORS
    assert set(CAT.not_for_prediction) <= API_ACCELERATORS
    assert not set(CAT.accelerators) & set(CAT.not_for_prediction)


def test_every_api_accelerator_type_is_either_offered_or_explained() -> None:
    assert set(CAT.accelerators) | set(CAT.not_for_prediction) == API_ACCELERATORS


def test_every_accelerator_a_machine_type_takes_exists_and_every_accelerator_has_a_machine_type() -> None:
    referenced = {kind for m in CAT.machine_types.values() for kind in m.accelerators}
    assert referenced <= set(CAT.accelerators)
    assert set(CAT.accelerators) <= referenced, "an accelerator no machine type takes"


def test_machine_types_are_family_dash_size_with_sensible_counts() -> None:
    for name, machine in CAT.machine_types.items():
        assert name == f"{machine.family}-{machine.size}"
        assert re.fullmatch(r"[a-z][a-z0-9]*-[a-z]+-\d+[a-z]?", name), name
        assert machine.source in CAT.sources
        for counts in machine.accelerators.values():
            assert counts == tuple(sorted(set(counts))) and all(1 <= n <= 16 for n in counts), name
        if machine.accelerator_required:
            assert machine.accelerators, f"{name} requires an accelerator but lists none"


def test_fixed_gpu_machine_types_take_the_count_their_name_says() -> None:
    for machine in CAT.machine_types.values():
        if machine.family.startswith(("a2-", "a3-", "a4-")):
            ((_, counts),) = machine.accelerators.items()
            assert counts == (int(machine.size.removesuffix("g")),), machine.name


def test_the_example_combinations_from_the_documentation_hold() -> None:
    l4 = {
        size: CAT.machine_types[f"g2-standard-{size}"].accelerators["NVIDIA_L4"] for size in CAT.families["g2-standard"]
    }
    assert l4 == {"4": (1,), "8": (1,), "12": (1,), "16": (1,), "24": (2,), "32": (1,), "48": (4,), "96": (8,)}
    assert CAT.machine_types["a2-highgpu-1g"].accelerators == {"NVIDIA_TESLA_A100": (1,)}
    assert CAT.machine_types["a3-highgpu-8g"].accelerators == {"NVIDIA_H100_80GB": (8,)}
    assert "NVIDIA_TESLA_T4" in CAT.machine_types["n1-standard-4"].accelerators
    assert not CAT.machine_types["e2-standard-4"].accelerators


def test_regions_are_region_names_without_zones_or_global() -> None:
    assert "us-central1" in CAT.regions and "europe-west4" in CAT.regions
    for name, region in CAT.regions.items():
        assert re.fullmatch(r"[a-z]+-[a-z]+\d+", name), name
        assert region.place, name


def test_a_malformed_catalogue_is_refused_naming_the_part() -> None:
    document = yaml.safe_load(catalogue_text())
    document["families"]["g2-standard"]["accelerators"]["7"] = {"NVIDIA_L4": [1]}
    with pytest.raises(CatalogueError, match=r"families.g2-standard.accelerators names sizes it does not list: 7"):
        parse(document)
    document = yaml.safe_load(catalogue_text())
    document["families"]["e2-standard"]["source"] = "nowhere"
    with pytest.raises(CatalogueError, match="not one of the sources"):
        parse(document)


def test_the_catalogue_is_package_data_of_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "model/catalogue/*.yaml" in config["tool"]["setuptools"]["package-data"]["controller"]


def test_the_example_manifests_use_only_catalogue_values() -> None:
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            spec = document.get("spec", {})
            if "region" in spec:
                assert region_problem(spec["region"]) is None
            for deployment in spec.get("deployments", []):
                assert machine_type_problem(deployment.get("machineType", "n1-standard-4")) is None


# --- Rules -------------------------------------------------------------------------------------------------

PROBLEMS = [
    (region_problem, "us-central1", None),
    (region_problem, "us-centrall", "unknown region 'us-centrall'; did you mean 'us-central1'?"),
    (region_problem, "europe-west4-a", "'europe-west4-a' is a zone; Vertex AI takes a region here: 'europe-west4'"),
    (region_problem, "mars-north1", "unknown region 'mars-north1': Vertex AI prediction is served in us-central1, "),
    (machine_type_problem, "g2-standard-8", None),
    (
        machine_type_problem,
        "g2-standard-7",
        "g2-standard comes in sizes 4, 8, 12, 16, 24, 32, 48 and 96 for prediction; did you mean 'g2-standard-8'?",
    ),
    (machine_type_problem, "n1-standrd-4", "unknown machine type 'n1-standrd-4'; did you mean 'n1-standard-4'?"),
    (machine_type_problem, "a2-highgpu", "machine type 'a2-highgpu' needs a size"),
    (machine_type_problem, "x9-mega-1", "Vertex AI prediction machine families are e2-standard, "),
    (accelerator_problem, "NVIDIA_L4", None),
    (accelerator_problem, "NVIDIA_L4X", "unknown accelerator type 'NVIDIA_L4X'; did you mean 'NVIDIA_L4'?"),
    (accelerator_problem, "nvidia-tesla-t4", "did you mean 'NVIDIA_TESLA_T4'?"),
    (accelerator_problem, "T4", "did you mean 'NVIDIA_TESLA_T4'?"),
    (
        accelerator_problem,
        "NVIDIA_TESLA_K80",
        "is not offered for Vertex AI prediction: the K80 has reached end of support",
    ),
]


@pytest.mark.parametrize(("rule", "value", "expected"), PROBLEMS, ids=[p[1] for p in PROBLEMS])
def test_each_rule_names_the_nearest_valid_value(rule: object, value: str, expected: str | None) -> None:
    got = rule(value)  # type: ignore[operator]
    if expected is None:
        assert got is None
    else:
        assert got is not None and expected in got, got


COMBINATIONS = [
    ("g2-standard-8", "NVIDIA_L4", 1, None),
    ("g2-standard-96", "NVIDIA_L4", 8, None),
    ("n1-standard-4", None, 0, None),
    ("ct5lp-hightpu-4t", None, 0, None),
    ("g2-standard-8", "NVIDIA_TESLA_T4", 1, ("type", "g2-standard-8 takes 1 NVIDIA_L4, not NVIDIA_TESLA_T4")),
    (
        "n1-standard-4",
        "NVIDIA_L4",
        1,
        ("type", "NVIDIA_TESLA_T4 (1, 2 or 4) or NVIDIA_TESLA_V100 (1, 2, 4 or 8), not NVIDIA_L4"),
    ),
    (
        "g2-standard-24",
        "NVIDIA_L4",
        1,
        ("count", "g2-standard-24 takes 2 NVIDIA_L4 (got 1); for 1 NVIDIA_L4 use g2-standard-4"),
    ),
    ("g2-standard-8", None, 0, ("machineType", "g2-standard-8 comes with 1 NVIDIA_L4; add accelerator")),
    (
        "e2-standard-4",
        "NVIDIA_TESLA_T4",
        1,
        ("type", "e2-standard-4 takes no accelerator; NVIDIA_TESLA_T4 goes on n1-"),
    ),
    ("g2-standard-7", "NVIDIA_L4", 1, None),  # the unknown machine type is reported by machine_type_problem
]


@pytest.mark.parametrize(("machine", "accelerator", "count", "expected"), COMBINATIONS)
def test_a_refused_combination_says_which_combinations_exist(
    machine: str, accelerator: str | None, count: int, expected: tuple[str, str] | None
) -> None:
    got = combination_problem(machine, accelerator, count)
    if expected is None:
        assert got is None
    else:
        assert got is not None and (got.field, expected[1] in got.message) == (expected[0], True), got


def test_every_combination_the_catalogue_lists_is_accepted() -> None:
    for machine in CAT.machine_types.values():
        for kind, counts in machine.accelerators.items():
            for count in counts:
                assert machine_spec_problem(machine.name, kind, count) is None, (machine.name, kind, count)
        if not machine.accelerator_required:
            assert machine_spec_problem(machine.name, None, 0) is None, machine.name


def test_a_machine_spec_problem_reports_unknown_parts_together() -> None:
    got = machine_spec_problem("g2-standard-7", "NVIDIA_L4X", 1)
    assert got is not None and "'g2-standard-8'" in got and "'NVIDIA_L4'" in got


def test_did_you_mean_is_case_insensitive_and_quiet_when_nothing_is_close() -> None:
    assert closest("Chat-LLM", ["chat-llm", "other"]) == "chat-llm"
    assert did_you_mean("canry", ["canary", "primary"]) == "; did you mean 'canary'?"
    assert did_you_mean("zzz", ["canary", "primary"]) == ""
    assert did_you_mean("canary", ["canary"]) == ""
    assert join_or(["a", "b", "c"]) == "a, b or c" and join_or(["a"]) == "a"
