"""The prompt test runner behind `genaiops prompts test`: render each declared test's variables, get a
response (the recorded one offline, or from a live model through a `Responder`), run the assertions.

Offline (the default, for CI) a test without a recorded response is skipped, not failed. A test whose
variables do not render, or whose live call fails, is an error; one with a failing assertion is a
failure; either makes the run fail (exit code 1). Pure apart from reading response files; the live
model is passed in (built by the CLI from `controller.providers.prompt_live`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.diagnostics import Source
from controller.errors import GenaiopsError
from controller.model import PromptTest
from controller.prompts.assertions import AssertionResult, check
from controller.prompts.render import RenderedPrompt, render_source
from controller.prompts.source import PromptSource

Responder = Callable[[RenderedPrompt], str]


class Status(StrEnum):
    """How a test case ended."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CaseResult:
    """One test case of one prompt."""

    prompt: str
    test: str
    source: Source
    status: Status
    assertions: tuple[AssertionResult, ...] = ()
    message: str = ""
    response: str | None = None
    rendered: str | None = None
    duration_s: float = 0.0

    @property
    def failures(self) -> tuple[AssertionResult, ...]:
        """The assertions that did not hold."""
        return tuple(a for a in self.assertions if not a.passed)


@dataclass(frozen=True)
class SuiteResult:
    """The test cases of one prompt."""

    prompt: str
    file: str
    cases: tuple[CaseResult, ...]

    def count(self, status: Status) -> int:
        """How many cases ended with `status`."""
        return sum(1 for c in self.cases if c.status is status)

    @property
    def duration_s(self) -> float:
        """Total time of the cases."""
        return sum(c.duration_s for c in self.cases)


@dataclass(frozen=True)
class RunReport:
    """A whole run: one suite per prompt."""

    suites: tuple[SuiteResult, ...]
    live: bool = False

    def count(self, status: Status) -> int:
        """How many cases ended with `status`, over all suites."""
        return sum(s.count(status) for s in self.suites)

    @property
    def total(self) -> int:
        """Number of cases."""
        return sum(len(s.cases) for s in self.suites)

    @property
    def ok(self) -> bool:
        """True when nothing failed or errored (skips allowed)."""
        return self.count(Status.FAILED) == 0 and self.count(Status.ERROR) == 0

    @property
    def exit_code(self) -> int:
        """0 when every test passed or was skipped, else 1."""
        return 0 if self.ok else 1

    def summary(self) -> str:
        """`3 passed, 1 failed, 0 errors, 1 skipped in 0.02s`."""
        seconds = sum(s.duration_s for s in self.suites)
        return (
            f"{self.count(Status.PASSED)} passed, {self.count(Status.FAILED)} failed, "
            f"{self.count(Status.ERROR)} errors, {self.count(Status.SKIPPED)} skipped in {seconds:.2f}s"
        )


def run_case(
    source: PromptSource,
    index: int,
    test: PromptTest,
    *,
    respond: Responder | None,
    timer: Callable[[], float] = time.perf_counter,
) -> CaseResult:
    """Render, respond and assert for one test case."""
    start = timer()
    where = source.at_test(index)

    def done(
        status: Status,
        message: str = "",
        *,
        rendered: str | None = None,
        response: str | None = None,
        assertions: tuple[AssertionResult, ...] = (),
    ) -> CaseResult:
        elapsed = timer() - start
        return CaseResult(source.name, test.name, where, status, assertions, message, response, rendered, elapsed)

    try:
        rendered = render_source(source, test.vars)
    except GenaiopsError as err:
        return done(Status.ERROR, message=str(err))
    try:
        response = source.response_of(test) if respond is None else respond(rendered)
    except GenaiopsError as err:
        return done(
            Status.ERROR,
            message=f"{'live call' if respond else 'reading the response'} failed: {err}",
            rendered=rendered.text,
        )
    if response is None:
        return done(
            Status.SKIPPED,
            message="no recorded response (add response or responseFile, or run --live)",
            rendered=rendered.text,
        )
    results = tuple(check(assertion, response) for assertion in test.assertions)
    status = Status.PASSED if all(r.passed for r in results) else Status.FAILED
    failed = [r.message for r in results if not r.passed]
    return done(status, assertions=results, message="; ".join(failed), response=response, rendered=rendered.text)


def run_tests(
    sources: Sequence[PromptSource],
    *,
    respond: Responder | None = None,
    only_test: str | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> RunReport:
    """Run every declared test of every prompt (or only the test named `only_test`)."""
    suites = []
    for source in sources:
        cases = tuple(
            run_case(source, index, test, respond=respond, timer=timer)
            for index, test in enumerate(source.prompt.spec.tests)
            if only_test is None or test.name == only_test
        )
        suites.append(SuiteResult(source.name, source.manifest_file, cases))
    return RunReport(tuple(suites), live=respond is not None)
