"""`data convert` (controller/datasets/conversion.py): a CSV or prompt/completion JSONL row becomes one Gemini
example (user prompt, model answer, optional system instruction); a bad row is an error with its line,
and nothing is written unless every row converted or `skip_invalid` was asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.datasets.conversion import Columns, convert_file, from_row, guess_format
from controller.datasets.scan import scan_file
from controller.errors import UserError


def _turns(prompt: str, completion: str) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [{"text": prompt}]}, {"role": "model", "parts": [{"text": completion}]}]


@pytest.mark.parametrize(
    ("row", "system", "expected", "problems"),
    [
        ({"prompt": "p", "completion": "c"}, None, {"contents": _turns("p", "c")}, []),
        ({"input_text": "p", "output_text": "c"}, None, {"contents": _turns("p", "c")}, []),
        (
            {"prompt": "p", "completion": "c"},
            "be brief",
            {"systemInstruction": {"role": "system", "parts": [{"text": "be brief"}]}, "contents": _turns("p", "c")},
            [],
        ),
        (
            {"prompt": "p", "completion": "c", "system": "own"},
            "default",
            {"systemInstruction": {"role": "system", "parts": [{"text": "own"}]}, "contents": _turns("p", "c")},
            [],
        ),
        ({"prompt": "p"}, None, None, ["completion"]),
        ({"prompt": "", "completion": 3}, None, None, ["prompt", "completion"]),
        ({"contents": []}, None, None, ["contents"]),
    ],
    ids=[
        "prompt-and-completion",
        "vertex-legacy-input-output-text",
        "a-default-system-instruction",
        "a-rows-own-system-instruction-wins",
        "a-missing-completion",
        "an-empty-prompt-and-a-non-string-completion",
        "already-gemini-format",
    ],
)
def test_each_row_converts_to_one_example_or_names_its_problems(
    row: dict[str, object], system: str | None, expected: dict[str, object] | None, problems: list[str]
) -> None:
    converted, found = from_row(row, columns=Columns(), system=system)
    assert converted == expected
    assert [p.path for p in found] == problems


def test_a_csv_with_a_quoted_multiline_field_converts_and_validates(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('question,answer\nhi,hello\n"two\nlines",ok\n', encoding="utf-8")
    target = tmp_path / "out.jsonl"
    report = convert_file(
        source, target, source_format="csv", columns=Columns(prompt="question", completion="answer", system=None)
    )
    assert report.ok and report.written == 2
    assert json.loads(target.read_text(encoding="utf-8").splitlines()[1])["contents"] == _turns("two\nlines", "ok")
    assert scan_file(target).ok


def test_a_bad_csv_row_is_reported_at_the_line_it_starts_and_nothing_is_written(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('prompt,completion\n"a\nb",ok\n,missing prompt\n', encoding="utf-8")
    target = tmp_path / "out.jsonl"
    report = convert_file(source, target, source_format="csv")
    assert not report.ok and not target.exists()
    assert [d.render() for d in report.diagnostics] == [
        f'{source}:4:1 prompt: expected a non-empty prompt string (got "")'
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]  # no temporary left behind


def test_skip_invalid_writes_the_good_rows_and_warns_about_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "a", "completion": "b"}\nnot json\n\n{"prompt": "c", "completion": "d"}\n')
    target = tmp_path / "out.jsonl"
    report = convert_file(source, target, source_format="jsonl", skip_invalid=True)
    assert report.ok and (report.written, report.skipped) == (2, 1)
    assert [(d.source.line, d.source.column, d.severity.value) for d in report.diagnostics] == [(2, 1, "warning")]
    assert len(target.read_text(encoding="utf-8").splitlines()) == 2


def test_a_jsonl_problem_points_at_the_column_of_the_bad_value(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "a", "completion": 7}\n')
    report = convert_file(source, tmp_path / "out.jsonl", source_format="jsonl")
    assert [str(d.source) for d in report.diagnostics] == [f"{source}:1:31"]


def test_a_csv_without_the_named_columns_is_refused_with_the_columns_it_has(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("q,a\nx,y\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"in.csv:1:1: expected the column\(s\) prompt, completion \(have: q, a\)"):
        convert_file(source, tmp_path / "out.jsonl", source_format="csv")


def test_a_file_with_no_rows_is_an_error(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n")
    report = convert_file(source, tmp_path / "out.jsonl", source_format="jsonl")
    assert not report.ok and "no example to write" in report.diagnostics[0].summary


@pytest.mark.parametrize(
    ("name", "expected"), [("a.csv", "csv"), ("a.CSV", "csv"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl")]
)
def test_the_input_format_follows_the_extension(name: str, expected: str) -> None:
    assert guess_format(Path(name)) == expected


def test_an_unknown_extension_asks_for_from() -> None:
    with pytest.raises(UserError, match="--from csv or jsonl"):
        guess_format(Path("a.txt"))
