"""configure_logging: JSON lines with the fixed fields and every extra, readable text, idempotent setup."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_extras() -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)

    logging.getLogger("controller.engine").info(
        "applied %s", "Endpoint/chat", extra={"resource": "Endpoint/chat", "commit": "ab12", "pass_id": 7}
    )

    entry = json.loads(out.getvalue())
    assert entry["level"] == "INFO"
    assert entry["logger"] == "controller.engine"
    assert entry["message"] == "applied Endpoint/chat"
    assert entry["resource"] == "Endpoint/chat"
    assert entry["commit"] == "ab12"
    assert entry["pass_id"] == 7
    assert entry["time"].endswith("Z")
    assert entry["time"][10] == "T"


def test_every_record_is_exactly_one_line_even_with_newlines_and_tracebacks() -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)
    log = logging.getLogger("genaiops.test")

    log.warning("two\nlines")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("pass failed", extra={"pass_id": 3})

    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "two\nlines"
    assert second["level"] == "ERROR"
    assert "RuntimeError: boom" in second["exception"]
    assert second["pass_id"] == 3


def test_values_json_cannot_encode_are_written_as_text() -> None:
    out = io.StringIO()
    configure_logging("json", stream=out)

    logging.getLogger("x").info("wrote", extra={"path": Path("/tmp/a.yaml"), "error": ValueError("bad")})

    entry = json.loads(out.getvalue())
    assert entry["path"] == "/tmp/a.yaml"
    assert entry["error"] == "bad"


def test_text_mode_is_human_readable_with_extras_as_key_value() -> None:
    out = io.StringIO()
    configure_logging("text", stream=out)

    logging.getLogger("controller.engine").info("applied", extra={"resource": "Endpoint/chat", "reason": "new commit"})

    line = out.getvalue().rstrip("\n")
    assert ' INFO    controller.engine: applied resource=Endpoint/chat reason="new commit"' in line
    assert line[:4].isdigit()


def test_the_level_filters_records() -> None:
    out = io.StringIO()
    configure_logging("json", level="warning", stream=out)

    logging.getLogger("x").info("quiet")
    logging.getLogger("x").warning("loud")

    assert [json.loads(line)["message"] for line in out.getvalue().splitlines()] == ["loud"]


def test_configuring_twice_replaces_the_handler_instead_of_duplicating_lines() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", stream=first)
    configure_logging("text", stream=second)

    logging.getLogger("x").info("once")

    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_unknown_formats_and_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml", stream=io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log level"):
        configure_logging("json", level="chatty", stream=io.StringIO())
