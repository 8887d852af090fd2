"""The bundled price table: every catalogue machine type and accelerator is priced in every region (or the
table says why not), lookups answer the table's rows, a PriceBook's rows win, a price without a source is
refused at load, and the table's date is printed. Cases are data in cases.yaml."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from controller.cost import Price, PriceTable, PriceTableError, bundled, parse, prices_text, unpriced
from controller.model import KINDS, PriceBook
from controller.model.catalogue import vertex_catalogue
from controller.runtime.token_prices import bundled_prices

CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text(encoding="utf-8"))
DOCUMENT = yaml.safe_load(prices_text())


def _book(rows: list[dict[str, Any]]) -> PriceBook:
    return PriceBook.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "PriceBook", "metadata": {"name": "negotiated"}, "spec": {"prices": rows}}
    )


def _lookup(table: PriceTable, case: dict[str, Any]) -> Price | None:
    method = getattr(table, case["call"])
    result = method(**case["args"])
    assert result is None or isinstance(result, Price)
    return result


def _check(price: Price | None, case: dict[str, Any]) -> None:
    if "usd" in case and case["usd"] is None:
        assert price is None
        return
    assert price is not None, case
    if "usd" in case:
        assert price.usd == pytest.approx(case["usd"])
    for key in ("unit", "confirmed", "as_of"):
        if key in case:
            assert getattr(price, key) == case[key]
    if "source_contains" in case:
        assert case["source_contains"] in price.source
    assert price.source.strip()
    assert len(price.as_of) == 10


def test_every_catalogue_machine_type_has_a_node_hour_price_in_every_catalogue_region_or_a_stated_reason() -> None:
    cat, table, gaps = vertex_catalogue(), bundled(), unpriced(DOCUMENT)["machineTypes"]
    assert set(gaps) <= set(cat.machine_types), "unpriced names a machine type the catalogue does not list"
    missing = []
    for machine in cat.machine_types:
        for region in cat.regions:
            price = table.node_hour(region=region, machine_type=machine)
            if machine in gaps:
                assert price is None and gaps[machine].strip()
            elif price is None or price.usd <= 0:
                missing.append(f"{machine} in {region}")
    assert not missing, f"no node-hour price: {missing}"


def test_every_catalogue_accelerator_has_a_price_in_every_catalogue_region_or_a_stated_reason() -> None:
    cat, table, gaps = vertex_catalogue(), bundled(), unpriced(DOCUMENT)["accelerators"]
    assert set(gaps) <= set(cat.accelerators)
    missing = []
    for accelerator in cat.accelerators:
        for region in cat.regions:
            price = table.accelerator_hour(region=region, accelerator=accelerator)
            if accelerator in gaps:
                assert price is None and gaps[accelerator].strip()
            elif price is None:
                missing.append(f"{accelerator} in {region}")
    assert not missing, f"no accelerator-hour price: {missing}"


def test_an_accelerator_counted_in_its_node_hour_only_comes_with_machine_types_that_are_priced() -> None:
    cat, table = vertex_catalogue(), bundled()
    rows = DOCUMENT["accelerators"]["includedInNodeHour"]
    for accelerator in table.included_accelerators:
        families = cat.families_taking(accelerator)
        assert families, accelerator
        for machine in cat.machine_types.values():
            if accelerator in machine.accelerators:
                # An optional accelerator is free only when the table says the node-hour includes it anyway
                # (TPU chips of a TPU machine type); an optional N1 GPU is billed on top and must not be here.
                assert machine.accelerator_required or rows[accelerator].get("evenWhenNotNamed") is True, (
                    f"{machine.name} may run without {accelerator}"
                )
                assert table.node_hour(region="us-central1", machine_type=machine.name) is not None


def test_a_name_is_priced_or_unpriced_never_both_and_every_priced_name_is_in_the_catalogue() -> None:
    cat, gaps = vertex_catalogue(), unpriced(DOCUMENT)
    nodes, accelerators = DOCUMENT["nodeHours"], DOCUMENT["accelerators"]
    listed_machines = set(nodes["listed"]["prices"])
    assert listed_machines <= set(cat.machine_types)
    assert not listed_machines & set(nodes["machineTypes"]), "a machine type priced twice"
    assert not (listed_machines | set(nodes["machineTypes"])) & set(gaps["machineTypes"])
    listed_accelerators = set(accelerators["listed"]["prices"])
    included = set(accelerators["includedInNodeHour"])
    assert listed_accelerators <= set(cat.accelerators) and included <= set(cat.accelerators)
    assert not listed_accelerators & included, "an accelerator billed on top and included at once"
    assert not (listed_accelerators | included) & set(gaps["accelerators"])
    assert not set(DOCUMENT["tuning"]["baseModels"]) & set(gaps["tuning"])
    for kind in ("machineTypes", "accelerators", "tuning"):
        assert all(why.strip() for why in gaps[kind].values()), kind
    for block in (nodes["listed"], accelerators["listed"]):
        for name, by_region in block["prices"].items():
            assert set(by_region) <= set(cat.regions), name


def test_every_listed_or_secondary_price_is_unconfirmed_and_names_its_copy() -> None:
    table = bundled()
    tpu = table.node_hour(region="europe-west4", machine_type="ct5lp-hightpu-1t")
    gpu = table.accelerator_hour(region="asia-east1", accelerator="NVIDIA_TESLA_P100")
    assert tpu is not None and gpu is not None
    assert (tpu.usd, gpu.usd) == (1.794, 1.84)
    for price in (tpu, gpu):
        assert price.confirmed is False
        assert "will-olson/CompeteAI@" in price.source and "https://cloud.google.com/vertex-ai/pricing" in price.source
    tuning = table.tuning_tokens(base_model="gemini-2.5-flash-lite")
    assert tuning is not None and tuning.usd == 1.5 and tuning.confirmed is False
    for needle in ("Oded-Ben-Yair/hey-seven@", "Vvren2022/finetune-gemini-vertex-ai@"):
        assert needle in tuning.source


@pytest.mark.parametrize("case", CASES["lookups"], ids=[c["name"] for c in CASES["lookups"]])
def test_lookups_answer_the_bundled_rows(case: dict[str, Any]) -> None:
    _check(_lookup(bundled(), case), case)


@pytest.mark.parametrize("case", CASES["books"], ids=[c["name"] for c in CASES["books"]])
def test_a_price_book_row_wins_over_the_bundled_table(case: dict[str, Any]) -> None:
    table = bundled().with_book(_book(case["book"]))
    for lookup in case["lookups"]:
        _check(_lookup(table, lookup), lookup)
    assert bundled().overrides == {}, "with_book changed the bundled table"


@pytest.mark.parametrize("case", CASES["invalid_rows"], ids=[c["name"] for c in CASES["invalid_rows"]])
def test_a_price_book_refuses_a_malformed_row(case: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=case["error"]):
        _book([case["row"]])


def test_a_price_book_refuses_the_same_price_twice() -> None:
    row = {"kind": "node-hour", "machineType": "n1-standard-4", "usd": 1.0, "asOf": "2026-11-01"}
    with pytest.raises(ValidationError, match="priced twice"):
        _book([row, {**row, "usd": 2.0}])


def test_price_book_is_a_manifest_kind() -> None:
    assert KINDS["PriceBook"] is PriceBook


@pytest.mark.parametrize("case", CASES["refused_tables"], ids=[c["name"] for c in CASES["refused_tables"]])
def test_a_price_without_a_source_or_a_date_is_refused_at_load(case: dict[str, Any]) -> None:
    document = copy.deepcopy(DOCUMENT)
    *parents, last = case["path"]
    node = document
    for key in parents:
        node = node[key]
    if case.get("delete"):
        del node[last]
    else:
        node[last] = case["value"]
    with pytest.raises(PriceTableError, match=case["error"]):
        parse(document)


def test_the_table_date_is_printed_with_every_cost() -> None:
    table = bundled()
    assert table.as_of == DOCUMENT["asOf"] == "2026-12-02"
    assert "2026-12-02" in table.describe()
    book = _book([{"kind": "input-tokens", "model": "gemini-2.5-flash", "usd": 0.2, "asOf": "2026-11-01"}])
    assert "PriceBook negotiated" in table.with_book(book).describe()


def test_gemini_token_rows_agree_with_the_runtime_table() -> None:
    runtime = bundled_prices()
    ours = bundled().token_models
    assert set(ours) == set(runtime.models)
    for name, prices in ours.items():
        theirs = runtime.models[name]
        assert len(prices.tiers) == len(theirs.tiers), name
        for mine, other in zip(prices.tiers, theirs.tiers, strict=True):
            assert mine.input == float(other.input) and mine.output == float(other.output), name
            assert mine.up_to_prompt_tokens == other.up_to_prompt_tokens, name
            cached = None if other.cached_input is None else float(other.cached_input)
            assert mine.cached_input == cached, name
        assert prices.confirmed is theirs.confirmed is False, name


def test_every_derived_price_is_marked_unconfirmed_and_names_its_sources() -> None:
    price = bundled().node_hour(region="europe-west4", machine_type="g2-standard-8")
    assert price is not None and price.confirmed is False
    for needle in ("Cyclenerd/google-cloud-pricing-cost-calculator@", "api-evangelist/google-vertex-ai@", "1.15"):
        assert needle in price.source
