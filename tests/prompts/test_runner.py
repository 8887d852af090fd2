"""The offline test runner and its JUnit XML: a mix of passing, failing, erroring and skipped tests gives
the right counts and exit code, and XML that parses and says the same."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.prompts.junit import to_junit_xml
from controller.prompts.render import RenderedPrompt
from controller.prompts.testing import RunReport, Status, run_tests
from tests.prompts.conftest import load_sources, prompt_yaml

TESTS = """\
tests:
  - name: passes
    vars: {customer: Ada}
    response: "Hello Ada, welcome back!"
    assert:
      - {type: contains, value: Ada}
      - {type: max-length, value: 100}
  - name: fails-twice
    vars: {customer: Bo}
    responseFile: responses/bo.txt
    assert:
      - {type: contains, value: Ada}
      - {type: icontains, value: hello}
      - {type: is-json}
  - name: cannot-render
    vars: {customer: 42}
    response: whatever
    assert: [{type: contains, value: x}]
  - name: not-recorded
    vars: {customer: Cy}
    assert: [{type: contains, value: Cy}]
"""


@pytest.fixture
def root(write: Callable[..., Path]) -> Path:
    return write({"p.yaml": prompt_yaml(extra=TESTS), "responses/bo.txt": "hello <Bo> & \x1b goodbye\n"})


def statuses(report: RunReport) -> dict[str, Status]:
    return {case.test: case.status for suite in report.suites for case in suite.cases}


def test_a_mix_of_results_is_counted_and_fails_the_run(root: Path) -> None:
    report = run_tests(load_sources(root))
    assert statuses(report) == {
        "passes": Status.PASSED,
        "fails-twice": Status.FAILED,
        "cannot-render": Status.ERROR,
        "not-recorded": Status.SKIPPED,
    }
    assert report.exit_code == 1
    assert report.summary().startswith("1 passed, 1 failed, 1 errors, 1 skipped")
    failed = next(c for c in report.suites[0].cases if c.test == "fails-twice")
    assert [f.type for f in failed.failures] == ["contains", "is-json"]
    errored = next(c for c in report.suites[0].cases if c.test == "cannot-render")
    assert "variable 'customer' must be a string (got integer 42)" in errored.message


def test_only_passing_and_skipped_tests_exit_zero(root: Path) -> None:
    for name in ("passes", "not-recorded"):
        assert run_tests(load_sources(root), only_test=name).exit_code == 0


def test_the_junit_xml_parses_and_matches_the_report(root: Path) -> None:
    report = run_tests(load_sources(root))
    document = ET.fromstring(to_junit_xml(report).encode("utf-8"))
    assert document.tag == "testsuites"
    assert {k: document.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
    }
    (suite,) = document.findall("testsuite")
    assert suite.get("name") == "prompt/greet"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"passes", "fails-twice", "cannot-render", "not-recorded"}
    assert cases["passes"].find("failure") is None
    failures = cases["fails-twice"].findall("failure")
    assert [f.get("type") for f in failures] == ["contains", "is-json"]
    assert "<Bo> & \ufffd goodbye" in (cases["fails-twice"].findtext("system-out") or "")
    assert cases["cannot-render"].find("error") is not None
    assert cases["not-recorded"].find("skipped") is not None
    assert cases["passes"].get("classname") == "prompts.greet"
    assert cases["passes"].get("file") == str(root / "p.yaml")
    assert int(cases["passes"].get("line") or 0) > 0


def test_a_live_responder_replaces_the_recorded_responses(root: Path) -> None:
    seen: list[RenderedPrompt] = []

    def respond(rendered: RenderedPrompt) -> str:
        seen.append(rendered)
        return f"Hello Ada! You said: {rendered.text}"

    report = run_tests(load_sources(root), respond=respond)
    assert report.live
    assert statuses(report) == {
        "passes": Status.PASSED,
        "fails-twice": Status.FAILED,  # the live answer is not JSON either
        "cannot-render": Status.ERROR,  # never sent: its variables do not render
        "not-recorded": Status.PASSED,  # live, so it runs: the answer echoes "Cy"
    }
    assert [r.text for r in seen] == ["Hello Ada!\n", "Hello Bo!\n", "Hello Cy!\n"]


def test_prompts_test_exits_1_and_writes_junit_xml(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports" / "prompts.xml"
    with pytest.raises(SystemExit) as exited:
        main(["prompts", "test", str(root), "--junit-xml", str(out)])
    assert exited.value.code == 1
    printed = capsys.readouterr().out
    assert "FAIL greet / fails-twice" in printed
    assert "1 passed, 1 failed, 1 errors, 1 skipped" in printed
    assert ET.parse(out).getroot().get("failures") == "1"


def test_prompts_test_of_one_passing_test_exits_0(root: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["prompts", "test", "greet", str(root), "--test", "passes"])
    assert exited.value.code == 0


def test_the_example_manifests_pass_their_own_tests() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["prompts", "test", str(Path(__file__).resolve().parents[2] / "manifests")])
    assert exited.value.code == 0
