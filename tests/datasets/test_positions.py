"""The column of a problem (controller/datasets/positions.py): the offset of the value its field path names
in the line, or of its deepest ancestor there, or 1."""

from __future__ import annotations

import pytest

from controller.datasets.positions import column_of, value_offsets

LINE = '{"contents": [{"role": "user", "parts": [{"text": ""}]}], "x\\"y": {"a": [1, 2]}}'


@pytest.mark.parametrize(
    ("path", "column"),
    [
        ("", 1),
        ("contents", 14),
        ("contents[0]", 15),
        ("contents[0].role", 24),
        ("contents[0].parts[0].text", 51),
        ('x"y.a[1]', 77),
        ("contents[0].missing", 15),  # a missing key points at its object
        ("contents[5].role", 14),  # a missing turn points at the list
        ("nowhere", 1),
    ],
)
def test_a_path_maps_to_the_column_of_its_value_or_nearest_ancestor(path: str, column: int) -> None:
    assert column_of(path, value_offsets(LINE)) == column
    assert LINE[column - 1] in '{["1234'


def test_whitespace_around_values_is_skipped() -> None:
    offsets = value_offsets('  { "a" :  [ 1 ,  {"b" : true} ] }')
    assert offsets == {"": 2, "a": 11, "a[0]": 13, "a[1]": 18, "a[1].b": 25}


def test_a_line_that_is_not_json_yields_what_was_found_before_the_surprise() -> None:
    assert value_offsets('{"a": 1, "b": ') == {"": 0, "a": 6, "b": 14}  # where b's value would start
    assert column_of("b", value_offsets("")) == 1
