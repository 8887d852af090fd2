"""PII detection and redaction: the 50-input corpus is fully redacted with the right kinds, look-alikes
stay, and the checksums (Luhn, IBAN mod-97) decide for cards and IBANs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.runtime.pii import iban_ok, luhn_ok, preview, redact, redact_value

CORPUS: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "pii_corpus.yaml").read_text(encoding="utf-8"))


def test_the_corpus_has_fifty_inputs() -> None:
    assert len(CORPUS["inputs"]) == 50


@pytest.mark.parametrize("case", CORPUS["inputs"], ids=lambda c: c["text"][:30])
def test_every_planted_value_is_redacted_and_named_by_kind(case: dict[str, Any]) -> None:
    redaction = redact(case["text"])
    for value in case["pii"]:
        assert value not in redaction.text
    assert sorted(redaction.found) == sorted(set(case["kinds"]))
    for kind in case["kinds"]:
        assert f"[{kind}]" in redaction.text


@pytest.mark.parametrize("text", CORPUS["clean"])
def test_look_alikes_that_are_not_pii_stay(text: str) -> None:
    assert redact(text).text == text


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("378282246310005", True), ("79927398713", True)],
)
def test_the_luhn_check(number: str, valid: bool) -> None:
    assert luhn_ok(number) is valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [("GB82 WEST 1234 5698 7654 32", True), ("GB82 WEST 1234 5698 7654 33", False), ("DE89370400440532013000", True)],
)
def test_the_iban_check(iban: str, valid: bool) -> None:
    assert iban_ok(iban) is valid


def test_a_card_between_other_numbers_is_found_and_the_rest_kept() -> None:
    assert redact("ref 12 4111 1111 1111 1111 exp 2029").text == "ref 12 [CARD] exp 2029"
    assert redact("4111 1111 1111 1111 5555 5555 5555 4444").found == {"CARD": 2}


def test_the_summary_names_kinds_and_counts_never_values() -> None:
    redaction = redact("a@example.com b@example.com +44 20 7946 0958")
    assert redaction.summary() == "EMAIL x2, PHONE x1"


def test_nested_values_are_redacted_for_logging() -> None:
    value = {"user": {"mail": "ada@example.com"}, "phones": ["+1 415 555 0100"], "n": 3}
    assert redact_value(value) == {"user": {"mail": "[EMAIL]"}, "phones": ["[PHONE]"], "n": 3}


def test_a_preview_is_redacted_before_it_is_cut() -> None:
    text = "x" * 10 + " card 4111 1111 1111 1111 and more"
    shown = preview(text, 20)
    assert shown == "xxxxxxxxxx card [CAR..." and "4111" not in shown
    assert preview("short", 0) == ""
