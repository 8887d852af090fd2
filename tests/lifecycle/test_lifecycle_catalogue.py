"""The model catalogue (controller/model/catalogue/lifecycle.py): parsing, lookup, successors, descriptions,
reference parsing, the bundled file and a project's ModelLifecycle rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from controller.model.catalogue.data import CatalogueError
from controller.model.catalogue.lifecycle import (
    Horizon,
    Lifecycle,
    ModelCatalogue,
    PublisherModelInfo,
    Stage,
    lifecycle_of,
    model_catalogue,
    model_id_of,
    parse_models,
)
from controller.model.model_lifecycle import ModelLifecycle, project_catalogue

SOURCES = {"page": {"url": "https://example.com/models", "read": "2026-01-01", "what": "a test page"}}


def document(**models: dict[str, Any]) -> dict[str, Any]:
    """A catalogue document with one source and these model rows."""
    return {"read_on": "2026-01-01", "sources": SOURCES, "models": models}


def row(**fields: Any) -> dict[str, Any]:
    return {"source": "page", **fields}


CHAIN = document(
    **{
        "old-001": row(aliases=["old"], retires="2026-01-31", successor="mid"),
        "mid": row(retires="2026-02-15", successor="new"),
        "new": row(retires="2027-01-01"),
        "lonely": row(retires="2026-02-10"),
    }
)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a mapping"),
        ({"models": {"a": row()}}, "sources must be a non-empty mapping"),
        ({"sources": {"page": {"read": "x"}}, "models": {"a": row()}}, "sources.page must be a mapping with a url"),
        ({"sources": SOURCES, "models": {}}, "models must be a non-empty mapping"),
        (document(a="not a mapping"), "models.a must be a mapping"),
        (document(a=row(colour="red")), "models.a has unknown keys: colour"),
        (document(a={"source": "elsewhere"}), "models.a.source 'elsewhere' is not one of the sources"),
        (document(a=row(aliases="b")), "models.a.aliases must be a list"),
        (document(a=row(context_window=0)), "models.a.context_window must be a positive whole number"),
        (document(a=row(tuning="yes")), "models.a.tuning must be true or false"),
        (document(a=row(retires="soon")), "models.a.retires must be a date YYYY-MM-DD"),
        (document(a=row(released="2026-02-01", retires="2026-01-01")), "models.a: retires before it is released"),
        (document(a=row(aliases=["b"]), b=row()), "'b' is also models.a"),
        (document(a=row(successor="z")), "models.a.successor 'z' is not in the catalogue"),
    ],
)
def test_a_malformed_catalogue_is_refused_naming_the_part(doc: Any, message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_models(doc)


def test_an_alias_finds_the_row_of_its_model() -> None:
    catalogue = parse_models(CHAIN)
    found = catalogue.find("old")
    assert found is not None and found.model_id == "old-001"
    assert catalogue.find("unheard-of") is None


def test_the_successor_chain_skips_successors_that_retire_too() -> None:
    catalogue = parse_models(CHAIN)
    early = Horizon(date(2025, 1, 1), within_days=10)
    assert catalogue.successor_of("old", early) == "mid"  # mid is current that day
    late = Horizon(date(2026, 1, 20), within_days=60)
    assert catalogue.successor_of("old", late) == "new"  # mid retires within the horizon too
    assert lifecycle_of("old", late, catalogue).successor == "new"
    assert catalogue.successor_of("lonely", late) is None


def test_stages_follow_the_day_and_the_horizon() -> None:
    catalogue = parse_models(CHAIN)
    assert lifecycle_of("old", Horizon(date(2025, 1, 1)), catalogue).stage is Stage.CURRENT
    retiring = lifecycle_of("old", Horizon(date(2026, 1, 1)), catalogue)
    assert (retiring.stage, retiring.days_left) == (Stage.RETIRING, 30)
    assert lifecycle_of("old", Horizon(date(2026, 1, 31)), catalogue).days_left == 0
    assert lifecycle_of("old", Horizon(date(2026, 2, 1)), catalogue).stage is Stage.RETIRED
    assert lifecycle_of("gpt-x", Horizon(date(2026, 2, 1)), catalogue).stage is Stage.UNKNOWN


def test_describe_says_when_a_model_retires_and_what_replaces_it() -> None:
    catalogue = parse_models(CHAIN)
    assert lifecycle_of("old", Horizon(date(2026, 2, 1)), catalogue).describe() == (
        "old retired on 2026-01-31; move to new"
    )
    assert lifecycle_of("old", Horizon(date(2026, 1, 1)), catalogue).describe() == (
        "old is retiring in 30 days (last day 2026-01-31); move to new"
    )
    assert lifecycle_of("old", Horizon(date(2026, 1, 30)), catalogue).describe() == (
        "old is retiring in 1 day (last day 2026-01-31); move to new"
    )
    assert lifecycle_of("lonely", Horizon(date(2026, 2, 11)), catalogue).describe() == (
        "lonely retired on 2026-02-10; the catalogue names no successor"
    )
    assert lifecycle_of("new", Horizon(date(2026, 1, 1)), catalogue).describe() == "new is current"
    assert Lifecycle("gpt-x", Stage.UNKNOWN).describe() == "gpt-x is unknown"


def test_describe_on_the_last_day_says_it_retires_today() -> None:
    catalogue = parse_models(CHAIN)
    assert lifecycle_of("old", Horizon(date(2026, 1, 31)), catalogue).describe() == (
        "old retires today (its last day is 2026-01-31); move to new"
    )


@pytest.mark.parametrize(
    ("ref", "model_id"),
    [
        ("publishers/google/models/gemini-2.0-flash", "gemini-2.0-flash"),
        ("publishers/google/models/gemini-2.0-flash@001", "gemini-2.0-flash"),
        ("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash-001"),
        ("support-llm", None),
        ("publishers/meta/models/llama-3", None),
        ("other/publishers/google/models/gemini-2.0-flash", None),
        ("publishers/google/models/", None),
    ],
)
def test_model_id_of_reads_the_google_model_a_reference_names(ref: str, model_id: str | None) -> None:
    assert model_id_of(ref) == model_id


def test_the_bundled_catalogue_loads_and_every_successor_is_in_it() -> None:
    catalogue = model_catalogue()
    assert catalogue.read_on and catalogue.models
    for info in catalogue.models.values():
        assert info.source in catalogue.sources
        if info.successor is not None:
            assert catalogue.find(info.successor) is not None, info.model_id


def lifecycle_manifest(*rows: dict[str, Any]) -> ModelLifecycle:
    return ModelLifecycle.model_validate(
        {
            "apiVersion": "genaiops/v1",
            "kind": "ModelLifecycle",
            "metadata": {"name": "ours"},
            "spec": {"models": list(rows)},
        }
    )


def test_a_model_lifecycle_row_overrides_the_bundled_row_even_for_an_alias() -> None:
    moved = lifecycle_manifest(
        {"model": "old", "retires": "2026-06-30", "successor": "new", "source": "mail", "as_of": "2026-01-02"},
        {"model": "brand-new", "source": "mail", "as_of": "2026-01-02"},
    )
    catalogue = project_catalogue([moved], base=parse_models(CHAIN))
    day = Horizon(date(2026, 2, 1))
    assert lifecycle_of("old", day, catalogue).stage is Stage.CURRENT  # was retired on 2026-01-31
    assert lifecycle_of("old-001", day, catalogue).stage is Stage.RETIRED  # the original id keeps its row
    original = catalogue.find("old-001")
    assert original is not None and original.aliases == ()
    overriding = catalogue.find("old")
    assert isinstance(overriding, PublisherModelInfo) and overriding.origin == "ModelLifecycle/ours"
    assert catalogue.find("brand-new") is not None
    assert project_catalogue([], base=parse_models(CHAIN)) == parse_models(CHAIN)
    assert isinstance(catalogue, ModelCatalogue)
