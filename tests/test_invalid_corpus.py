"""The bad-input corpus: every committed invalid case yields exactly its expected diagnostics, and
hostile input generated at test time (binary, huge, deeply nested, alias bombs, non-UTF-8) is refused
quickly, as diagnostics, never as a crash.

Cases live in tests/corpus/invalid/ (a file, or a directory for multi-file cases); their expected
diagnostics in tests/corpus/expected.yaml. Each case is loaded alone, in-process and through the CLI.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from controller.cli.main import cli
from controller.diagnostics import Diagnostic
from controller.loader import MAX_FILE_BYTES, LoadResult, load
from controller.loader.yaml_source import MAX_DEPTH

CORPUS = Path(__file__).resolve().parent / "corpus"
INVALID = CORPUS / "invalid"
EXPECTED: dict[str, list[dict[str, Any]]] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))
CASES = sorted(p for p in INVALID.iterdir() if not p.name.startswith("."))
ROOT = CORPUS.parent.parent

# `file:line:col[ field.path]: message`, as printed by `genaiops validate`.
LINE_RE = re.compile(r"^(?P<file>\S.*?):(?P<line>\d+):(?P<col>\d+)(?: (?P<path>\S+))?: (?P<message>.+)$")


def _relative_file(case: Path, diagnostic: Diagnostic) -> str:
    if case.is_dir():
        return Path(diagnostic.source.file).relative_to(case).as_posix()
    return Path(diagnostic.source.file).name


def _mismatch(case: Path, expected: dict[str, Any], diagnostic: Diagnostic) -> str | None:
    """Why `diagnostic` does not match its expectation, or None when it does."""
    wanted_file = expected.get("file", case.name)
    checks = [
        ("file", wanted_file, _relative_file(case, diagnostic)),
        ("line", expected["line"], diagnostic.source.line),
    ]
    if "column" in expected:
        checks.append(("column", expected["column"], diagnostic.source.column))
    if "path" in expected:
        checks.append(("path", "" if expected["path"] == "-" else expected["path"], diagnostic.path))
    for what, wanted, got in checks:
        if wanted != got:
            return f"{what}: expected {wanted!r}, got {got!r}"
    if expected["message"] not in diagnostic.summary:
        return f"message: {expected['message']!r} not in {diagnostic.summary!r}"
    return None


def _describe(result: LoadResult) -> str:
    return "\n".join(d.render() for d in result.diagnostics) or "(no diagnostics)"


def test_the_corpus_holds_at_least_forty_committed_cases() -> None:
    assert len(CASES) >= 40


def test_every_case_has_an_expectation_and_every_expectation_a_case() -> None:
    names = {case.name for case in CASES}
    assert sorted(names - EXPECTED.keys()) == [], "cases without an entry in expected.yaml"
    assert sorted(EXPECTED.keys() - names) == [], "entries in expected.yaml without a case"
    assert all(EXPECTED[name] for name in names), "every case expects at least one diagnostic"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_yields_exactly_its_expected_diagnostics(case: Path) -> None:
    result = load(case)
    expected = EXPECTED[case.name]
    assert not result.ok
    assert len(result.diagnostics) == len(expected), _describe(result)
    for index, (want, got) in enumerate(zip(expected, result.diagnostics, strict=True)):
        problem = _mismatch(case, want, got)
        assert problem is None, f"diagnostic {index}: {problem}\nall diagnostics:\n{_describe(result)}"


def _invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def _assert_clean_failure(result: Result) -> None:
    """Exit 1 through sys.exit, never an uncaught exception or a traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_prints_one_positioned_line_per_problem_and_exits_1(case: Path) -> None:
    result = _invoke(["validate", str(case)])
    _assert_clean_failure(result)
    lines = result.output.splitlines()
    expected = EXPECTED[case.name]
    assert len(lines) == len(expected) + 1, result.output  # then the summary line
    assert lines[-1].startswith(f"{len(expected)} error")
    for line, want in zip(lines, expected, strict=False):
        match = LINE_RE.match(line)
        assert match is not None, f"not file:line:col: {line!r}"
        assert int(match["line"]) == want["line"], line


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_validate_json_output_lists_the_same_problems(case: Path) -> None:
    result = _invoke(["validate", str(case), "--output", "json"])
    _assert_clean_failure(result)
    document = json.loads(result.output)
    expected = EXPECTED[case.name]
    assert document["valid"] is False
    assert document["error_count"] == len(expected)
    assert [d["line"] for d in document["diagnostics"]] == [e["line"] for e in expected]


def test_the_console_entry_point_reports_bad_input_without_a_traceback() -> None:
    chosen = [INVALID / name for name in sorted(EXPECTED)[::12]]
    chosen.append(INVALID / "26-duplicate-name-across-files")
    for case in chosen:
        run = subprocess.run(
            [sys.executable, "-m", "controller", "validate", str(case)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            check=False,
        )
        assert run.returncode == 1, run.stdout + run.stderr
        assert "Traceback" not in run.stdout + run.stderr
        lines = run.stdout.splitlines()
        assert len(lines) == len(EXPECTED[case.name]) + 1
        assert all(LINE_RE.match(line) for line in lines[:-1]), run.stdout


# --- Hostile input, generated at test time ----------------------------------------------------------------


def _billion_laughs() -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) strings once expanded."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghij"
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _merge_key_bomb() -> str:
    """The same blow-up through mappings and merge keys (`<<`) instead of sequences."""
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: lol" for i in range(10)) + "}"]
    for level in range(1, 10):
        refs = ", ".join(f"x{i}: *a{level - 1}" for i in range(10))
        lines.append(f"a{level}: &a{level} {{<<: *a{level - 1}, {refs}}}")
    return "\n".join(lines) + "\n"


def _write(data: bytes | str) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = directory / "generated.yaml"
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        return path

    return make


def _ten_megabytes(directory: Path) -> Path:
    path = directory / "generated.yaml"
    line = b"# " + b"padding " * 12 + b"\n"
    with path.open("wb") as out:
        out.write(b"apiVersion: genaiops/v1\nkind: Model\n")
        out.write(line * (10 * 1024 * 1024 // len(line)))
    return path


# name -> (how to make the file, expected line, message fragment)
GENERATED: dict[str, tuple[Callable[[Path], Path], int, str]] = {
    "binary": (_write(bytes(range(256)) * 64), 1, "binary file"),
    "ten-megabytes": (_ten_megabytes, 1, f"manifests are limited to {MAX_FILE_BYTES // 1024} KiB"),
    "deep-flow-nesting": (_write("a: " + "[" * 10_000 + "]" * 10_000 + "\n"), 1, "nesting"),
    "deep-block-nesting": (_write("- " * 10_000 + "x\n"), 1, f"nesting deeper than {MAX_DEPTH} levels"),
    "deep-block-mappings": (
        _write("".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "end\n"),
        MAX_DEPTH + 1,
        f"nesting deeper than {MAX_DEPTH} levels",
    ),
    "billion-laughs": (_write(_billion_laughs()), 6, "alias bomb"),
    "merge-key-bomb": (_write(_merge_key_bomb()), 0, "alias bomb"),
    "latin-1": (
        _write("apiVersion: genaiops/v1\nkind: Model\nmetadata:\n  name: caf\xe9\n".encode("latin-1")),
        4,
        "UTF-8",
    ),
    "utf-16": (_write("apiVersion: genaiops/v1\n".encode("utf-16")), 1, "UTF-8"),
}


@pytest.mark.parametrize("name", list(GENERATED))
def test_hostile_input_is_refused_with_one_diagnostic(name: str, tmp_path: Path) -> None:
    make, line, fragment = GENERATED[name]
    path = make(tmp_path)
    result = load(path)
    assert len(result.diagnostics) == 1, _describe(result)
    (diagnostic,) = result.diagnostics
    assert fragment in diagnostic.summary
    assert diagnostic.source.file == str(path)
    if line:
        assert diagnostic.source.line == line, diagnostic.render()
    assert diagnostic.source.line >= 1 and diagnostic.source.column >= 1


@pytest.mark.parametrize("name", list(GENERATED))
def test_validate_refuses_hostile_input_with_a_positioned_line(name: str, tmp_path: Path) -> None:
    path = GENERATED[name][0](tmp_path)
    result = _invoke(["validate", str(path)])
    _assert_clean_failure(result)
    lines = result.output.splitlines()
    assert len(lines) == 2, result.output
    assert LINE_RE.match(lines[0]), lines[0]


@pytest.mark.parametrize("bomb", [_billion_laughs, _merge_key_bomb])
def test_an_alias_bomb_is_refused_quickly_without_exhausting_memory(bomb: Callable[[], str], tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(), encoding="utf-8")
    tracemalloc.start()
    started = time.process_time()
    try:
        result = load(path)
        cpu = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not result.ok
    assert "alias bomb" in result.diagnostics[0].summary
    assert cpu < 0.5, f"took {cpu:.2f}s of CPU"
    assert peak < 50 * 1024 * 1024, f"peak allocation {peak / 1e6:.1f} MB"
