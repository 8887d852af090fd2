"""The evaluation gate's scorers: the built-ins score known cases (tests/cases/evaluation/), and a custom
scorer is imported only from an allowed module, by name, and only trusted to return a number in [0, 1]."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.evaluation.scorers import (
    BUILTINS,
    ScorerError,
    allowed_from_env,
    is_allowed,
    lcs_length,
    load_scorer,
    resolve,
    rouge_l,
)
from controller.model.tuning import GateMetric

CASES = Path(__file__).resolve().parents[1] / "cases" / "evaluation"
SAMPLES = "tests.evaluation.sample_scorers"


def cases(name: str) -> list[Any]:
    table = yaml.safe_load((CASES / f"{name}.yaml").read_text(encoding="utf-8"))
    return [pytest.param(case, id=case["name"]) for case in table["cases"]]


@pytest.mark.parametrize("case", cases("rouge"))
def test_rouge_l_agrees_with_the_reference_implementations_published_cases(case: dict[str, Any]) -> None:
    assert rouge_l(case["expected"], case["answer"]) == pytest.approx(case["fmeasure"], abs=5e-6)


@pytest.mark.parametrize("case", cases("scorers"))
def test_each_built_in_scorer_gives_the_tabled_score(case: dict[str, Any]) -> None:
    assert BUILTINS[case["scorer"]](case["expected"], case["answer"]) == case["score"]


@pytest.mark.parametrize(
    ("a", "b", "length"),
    [("abcde", "ace", 3), ("ace", "abcde", 3), ("abc", "", 0), ("abc", "xyz", 0), ("aab", "aba", 2)],
)
def test_the_longest_common_subsequence_is_as_long_as_by_hand(a: str, b: str, length: int) -> None:
    assert lcs_length(list(a), list(b)) == length


def test_a_built_in_metric_resolves_to_its_scorer_without_any_allow_list() -> None:
    assert resolve(GateMetric(name="rouge-l", min=0.5), allowed=()) is rouge_l


def test_an_allowed_custom_scorer_is_loaded_by_module_name_and_called() -> None:
    scorer = load_scorer(f"{SAMPLES}:length_ratio", allowed=["tests.evaluation."])
    assert scorer("abcd", "ab") == 0.5


def test_a_scorer_returning_an_int_in_range_is_accepted_as_a_float() -> None:
    value = load_scorer(f"{SAMPLES}:always_one", allowed=[SAMPLES])("a", "b")
    assert value == 1.0 and isinstance(value, float)


def test_the_allow_list_comes_from_genaiops_scorers_when_no_argument_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAIOPS_SCORERS", " mypkg. , ,tests.evaluation ")
    assert allowed_from_env() == ("mypkg.", "tests.evaluation")
    assert load_scorer(f"{SAMPLES}:length_ratio")("ab", "ab") == 1.0


@pytest.mark.parametrize(
    ("module", "allowed", "expected"),
    [
        ("mypkg.scoring", ["mypkg."], True),
        ("mypkg", ["mypkg."], False),  # "mypkg." allows what is below the package
        ("other.module", ["other.module"], True),
        ("other.module.sub", ["other.module"], True),
        ("other.modulex", ["other.module"], False),  # a prefix without "." is a whole module name
        ("mypkgevil.scoring", ["mypkg."], False),
        ("anything", [], False),
    ],
)
def test_a_module_is_allowed_only_inside_an_allowed_prefix(module: str, allowed: list[str], expected: bool) -> None:
    assert is_allowed(module, allowed) is expected


@pytest.mark.parametrize(
    ("spec", "allowed", "message"),
    [
        (
            f"{SAMPLES}:length_ratio",
            [],
            "refused: no custom scorers are allowed; the operator allows modules with GENAIOPS_SCORERS=prefix",
        ),
        (
            f"{SAMPLES}:length_ratio",
            ["mypkg.", "tests.eval"],
            "refused: module 'tests.evaluation.sample_scorers' is "
            "not under an allowed prefix (GENAIOPS_SCORERS=mypkg.,tests.eval)",
        ),
        ("tests/evaluation/sample_scorers.py:length_ratio", ["tests."], "must be written package.module:function"),
        ("/tmp/evil.py:score", ["tests."], "must be written package.module:function"),
        ("tests.evaluation.sample_scorers", ["tests."], "must be written package.module:function"),
        (f"{SAMPLES}:length_ratio", ["../tests."], "GENAIOPS_SCORERS entry '../tests.' is not a dotted module prefix"),
        ("tests.evaluation.no_such_module:f", ["tests."], "cannot import 'tests.evaluation.no_such_module'"),
        (f"{SAMPLES}:missing", ["tests."], "has no function 'missing'"),
        (f"{SAMPLES}:NOT_CALLABLE", ["tests."], "has no function 'NOT_CALLABLE'"),
    ],
    ids=[
        "no-allow-list",
        "outside-the-prefixes",
        "a-relative-file-path",
        "an-absolute-file-path",
        "no-function",
        "a-path-in-the-allow-list",
        "no-such-module",
        "no-such-function",
        "not-callable",
    ],
)
def test_a_custom_scorer_that_is_not_allowed_or_not_there_is_refused_with_a_clear_message(
    spec: str, allowed: list[str], message: str
) -> None:
    with pytest.raises(ScorerError) as refused:
        load_scorer(spec, allowed=allowed)
    assert message in str(refused.value)
    assert spec in str(refused.value) or "GENAIOPS_SCORERS entry" in str(refused.value)


@pytest.mark.parametrize(
    ("function", "shown"),
    [
        ("too_high", "returned 2.0 (float)"),
        ("negative", "returned -0.1 (float)"),
        ("not_a_number", "returned nan"),
        ("text", "returned '0.5' (str)"),
        ("boolean", "returned True (bool)"),
        ("broken", "raised KeyError: 'label'"),
    ],
)
def test_a_custom_scorer_returning_anything_but_a_number_in_0_1_is_refused_naming_it(function: str, shown: str) -> None:
    scorer = load_scorer(f"{SAMPLES}:{function}", allowed=[SAMPLES])
    with pytest.raises(ScorerError) as refused:
        scorer("expected", "answer")
    assert f"scorer '{SAMPLES}:{function}' {shown}" in str(refused.value)


def _package_that_leaves_a_mark(root: Path, name: str) -> Path:
    """A package under `root` that, if ever imported, writes a file: proof that its code ran."""
    mark = root / f"{name}-was-imported"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(f"open({str(mark)!r}, 'w').close()\n", encoding="utf-8")
    (root / name / "scoring.py").write_text("def score(expected, answer):\n    return 1.0\n", encoding="utf-8")
    return mark


def test_a_module_outside_the_allow_list_is_refused_before_any_of_its_code_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = _package_that_leaves_a_mark(tmp_path, "evilpkg_outside")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(ScorerError, match="not under an allowed prefix"):
        load_scorer("evilpkg_outside.scoring:score", allowed=["mypkg."])
    assert not mark.exists() and "evilpkg_outside" not in sys.modules


def test_an_allowed_module_that_lives_among_the_manifests_is_refused_before_any_of_its_code_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = _package_that_leaves_a_mark(tmp_path, "evilpkg_inside")
    monkeypatch.syspath_prepend(str(tmp_path))  # e.g. the manifests checkout is the working directory

    with pytest.raises(ScorerError, match=r"would be imported from inside .*; install the scorer as a package"):
        load_scorer("evilpkg_inside.scoring:score", allowed=["evilpkg_inside."], refuse_under=tmp_path)
    assert not mark.exists() and "evilpkg_inside" not in sys.modules


def test_an_installed_allowed_module_is_not_refused_for_living_outside_the_manifests(tmp_path: Path) -> None:
    scorer = load_scorer(f"{SAMPLES}:length_ratio", allowed=["tests."], refuse_under=tmp_path)
    assert scorer("a", "a") == 1.0
