"""`genaiops data validate|stats|convert|split` as a user runs them: file:line:column problems, at most
--max-problems then "and K more", versioned JSON, exit 1 on any error (warnings alone exit 0), and a clear
message, never a traceback, for a file that is not there."""

from __future__ import annotations

import json
from pathlib import Path

from controller.cli.main import cli
from controller.datasets.hashing import content_hash
from tests.helpers import run_cli

GOOD = '{"contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "hello"}]}]}'
WARNED = '{"note": 1, ' + GOOD[1:]


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_validate_passes_a_good_file_with_counts_and_a_token_estimate(tmp_path: Path) -> None:
    result = run_cli(cli, ["data", "validate", str(_file(tmp_path, GOOD, GOOD))])
    assert result.exit_code == 0, result.output
    assert "Valid:" in result.output and "2 example(s)" in result.output and "about 4 tokens" in result.output


def test_validate_exits_1_and_names_file_line_and_column(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD, '{"contents": [{"role": "user", "parts": [{"text": ""}]}]}')
    result = run_cli(cli, ["data", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2:51 contents[0].parts[0].text: empty text" in result.output


def test_warnings_alone_do_not_fail_validation(tmp_path: Path) -> None:
    result = run_cli(cli, ["data", "validate", str(_file(tmp_path, WARNED))])
    assert result.exit_code == 0
    assert ":1:10 note: warning: unknown field" in result.output


def test_validate_prints_at_most_max_problems_then_how_many_more(tmp_path: Path) -> None:
    result = run_cli(cli, ["data", "validate", "--max-problems", "2", str(_file(tmp_path, *["[]"] * 7))])
    assert result.exit_code == 1
    assert result.output.count("expected a JSON object") == 2
    assert "... and 5 more problem(s)" in result.output


def test_validate_json_is_a_versioned_document_with_the_diagnostics(tmp_path: Path) -> None:
    result = run_cli(cli, ["data", "validate", "-o", "json", str(_file(tmp_path, GOOD, "nope"))])
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["format_version"] == "1" and document["valid"] is False
    assert (document["examples"], document["error_count"]) == (1, 1)
    assert document["diagnostics"][0]["line"] == 2 and document["diagnostics"][0]["column"] == 1


def test_stats_prints_counts_tokens_and_the_content_hash(tmp_path: Path) -> None:
    path = _file(tmp_path, GOOD, GOOD, GOOD)
    result = run_cli(cli, ["data", "stats", "-o", "json", str(path)])
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["examples"] == 3 and document["estimated_tokens"]["total"] == 6
    assert document["sha256"] == content_hash(path)
    human = run_cli(cli, ["data", "stats", str(path)])
    assert f"sha256:             {content_hash(path)}" in human.output


def test_a_missing_file_is_a_message_and_exit_1_not_a_traceback(tmp_path: Path) -> None:
    for command in (["validate"], ["stats"], ["split"], ["convert"]):
        args = ["data", *command, str(tmp_path / "absent.jsonl")]
        result = run_cli(cli, [*args, str(tmp_path / "out.jsonl")] if command == ["convert"] else args)
        assert result.exit_code == 1, command
        assert "absent.jsonl: No such file or directory" in result.output
        assert "Traceback" not in result.output


def test_convert_then_split_gives_two_valid_files(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("prompt,completion\n" + "".join(f"q{i},a{i}\n" for i in range(200)), encoding="utf-8")
    target = tmp_path / "train.jsonl"
    converted = run_cli(cli, ["data", "convert", str(source), str(target), "--system", "Be brief."])
    assert converted.exit_code == 0 and "wrote 200 example(s)" in converted.output
    split = run_cli(cli, ["data", "split", str(target), "--validation", "0.2", "--seed", "5"])
    assert split.exit_code == 0, split.output
    for part in ("train.train.jsonl", "train.validation.jsonl"):
        assert run_cli(cli, ["data", "validate", str(tmp_path / part)]).exit_code == 0


def test_convert_exits_1_and_writes_nothing_on_a_bad_row(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "a"}\n', encoding="utf-8")
    result = run_cli(cli, ["data", "convert", str(source), str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1
    assert f"{source}:1:1 completion: missing the completion" in result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_split_refuses_a_fraction_outside_zero_to_one(tmp_path: Path) -> None:
    result = run_cli(cli, ["data", "split", str(_file(tmp_path, GOOD)), "--validation", "1.5"])
    assert result.exit_code != 0 and "--validation" in result.output
