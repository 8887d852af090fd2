"""JUnit XML for a prompt test run, in the shape CI systems read (GitHub Actions test reporters, GitLab,
Jenkins): `<testsuites>` with one `<testsuite>` per prompt and one `<testcase>` per declared test, with
`<failure>` for failed assertions, `<error>` for tests that could not run, `<skipped>` for tests without a
recorded response. Built with xml.etree, so text is always escaped correctly. Pure.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from controller.prompts.testing import CaseResult, RunReport, Status, SuiteResult

_MAX_TEXT = 10_000  # per element: keep CI logs readable when a response is huge
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def _safe(text: str) -> str:
    """Text XML 1.0 can hold: control characters a model may emit become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _clip(text: str) -> str:
    return _safe(text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "\n... (truncated)")


def _case(parent: ET.Element, case: CaseResult) -> None:
    element = ET.SubElement(
        parent,
        "testcase",
        name=case.test,
        classname=f"prompts.{case.prompt}",
        file=case.source.file,
        line=str(case.source.line),
        time=_seconds(case.duration_s),
    )
    match case.status:
        case Status.FAILED:
            for result in case.failures:
                message = _safe(result.message)
                failure = ET.SubElement(element, "failure", message=message, type=result.type)
                failure.text = message
        case Status.ERROR:
            first = case.message.splitlines()[0] if case.message else "error"
            error = ET.SubElement(element, "error", message=_safe(first), type="error")
            error.text = _clip(case.message)
        case Status.SKIPPED:
            ET.SubElement(element, "skipped", message=_safe(case.message))
        case Status.PASSED:
            pass
    if case.response is not None:
        ET.SubElement(element, "system-out").text = _clip(f"response:\n{case.response}")


def _suite(parent: ET.Element, suite: SuiteResult, timestamp: str) -> None:
    element = ET.SubElement(
        parent,
        "testsuite",
        name=f"prompt/{suite.prompt}",
        tests=str(len(suite.cases)),
        failures=str(suite.count(Status.FAILED)),
        errors=str(suite.count(Status.ERROR)),
        skipped=str(suite.count(Status.SKIPPED)),
        time=_seconds(suite.duration_s),
        timestamp=timestamp,
        file=suite.file,
    )
    for case in suite.cases:
        _case(element, case)


def to_junit_xml(report: RunReport, *, timestamp: datetime | None = None) -> str:
    """The report as a JUnit XML document (with an XML declaration)."""
    stamp = (timestamp or datetime.now()).replace(microsecond=0).isoformat()
    root = ET.Element(
        "testsuites",
        name="genaiops prompts" + (" (live)" if report.live else ""),
        tests=str(report.total),
        failures=str(report.count(Status.FAILED)),
        errors=str(report.count(Status.ERROR)),
        skipped=str(report.count(Status.SKIPPED)),
        time=_seconds(sum(s.duration_s for s in report.suites)),
    )
    for suite in report.suites:
        _suite(root, suite, stamp)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
