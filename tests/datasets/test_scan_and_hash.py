"""One streaming pass over a file (controller/datasets/scan.py): counts, token estimates, the first problems
with file:line:column, the rest only counted; the sha256 it computes on the way is the Dataset version
(`content_hash`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from controller.datasets.hashing import content_hash
from controller.datasets.lines import read_lines
from controller.datasets.scan import scan_file
from controller.datasets.stats import bucket_of

GOOD = json.dumps(
    {"contents": [{"role": "user", "parts": [{"text": "abcd"}]}, {"role": "model", "parts": [{"text": "efgh"}]}]}
)
NO_ANSWER = json.dumps({"contents": [{"role": "user", "parts": [{"text": "abcd"}]}]})


def _write(tmp_path: Path, lines: list[str], *, ending: str = "\n") -> Path:
    path = tmp_path / "data.jsonl"
    path.write_bytes(ending.join(lines).encode("utf-8") + ending.encode("utf-8"))
    return path


def test_a_valid_file_counts_examples_and_estimated_tokens(tmp_path: Path) -> None:
    report = scan_file(_write(tmp_path, [GOOD] * 3))
    assert report.ok and report.diagnostics == ()
    assert (report.stats.examples, report.stats.valid_examples, report.stats.tokens) == (3, 3, 6)
    assert report.stats.histogram == {"<=64": 3}


def test_problems_name_the_file_line_column_and_field_path(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD, NO_ANSWER, "{oops"])
    report = scan_file(path, display_name="data.jsonl")
    assert not report.ok
    rendered = [d.render() for d in report.diagnostics]
    assert rendered == [
        'data.jsonl:2:24 contents[0].role: the last turn must be "model": the answer to tune on',
        "data.jsonl:3:2: not valid JSON: Expecting property name enclosed in double quotes",
    ]
    assert (report.stats.lines, report.stats.examples, report.stats.valid_examples, report.stats.invalid_lines) == (
        3,
        2,
        1,
        2,
    )


def test_only_the_first_problems_are_kept_and_the_rest_are_counted(tmp_path: Path) -> None:
    report = scan_file(_write(tmp_path, ["[]"] * 50), max_problems=3)
    assert len(report.diagnostics) == 3 and report.omitted == 47
    assert report.stats.errors == 50
    assert [d.source.line for d in report.diagnostics] == [1, 2, 3]


def test_an_oversize_line_is_an_error_and_the_next_line_is_still_checked(tmp_path: Path) -> None:
    report = scan_file(_write(tmp_path, ["x" * 5000, GOOD]), max_line_bytes=1000)
    assert [d.source.line for d in report.diagnostics] == [1]
    assert "line longer than 1,000 bytes" in report.diagnostics[0].summary
    assert report.stats.valid_examples == 1


def test_crlf_endings_and_a_byte_order_mark_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (GOOD + "\r\n" + GOOD + "\r\n").encode("utf-8"))
    report = scan_file(path)
    assert report.ok and report.stats.examples == 2


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    report = scan_file(path)
    assert not report.ok and "empty file" in report.diagnostics[0].summary


def test_the_scans_sha256_is_the_content_hash_of_the_bytes_as_stored(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD, "x" * 3000, NO_ANSWER], ending="\r\n")
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert content_hash(path) == expected
    assert scan_file(path, max_line_bytes=1000).sha256 == expected  # oversize lines are hashed too


def test_a_changed_byte_is_a_new_content_hash(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD])
    before = content_hash(path)
    path.write_bytes(path.read_bytes().replace(b"abcd", b"abce"))
    assert content_hash(path) != before and len(before) == 64


def test_the_reader_yields_numbered_lines_without_their_endings(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"a\r\nb\n\nlast-without-newline")
    with path.open("rb") as stream:
        assert [(r.number, r.data) for r in read_lines(stream)] == [
            (1, b"a"),
            (2, b"b"),
            (3, b""),
            (4, b"last-without-newline"),
        ]


def test_token_histogram_buckets_are_powers_of_two_up_to_the_example_limit() -> None:
    assert [bucket_of(t) for t in (0, 64, 65, 131_072, 131_073)] == ["<=64", "<=64", "<=128", "<=131072", ">131072"]
