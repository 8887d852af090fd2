"""Render diagnostics: one line each for people (`file:line:col path: message`), or a JSON document."""

from __future__ import annotations

import json
from collections.abc import Sequence

from controller.diagnostics import Diagnostic, Severity

JSON_FORMAT_VERSION = "1"


def human_lines(diagnostics: Sequence[Diagnostic], *, files: int) -> list[str]:
    """One line per problem, then a summary line."""
    lines = [d.render() for d in diagnostics]
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = len(diagnostics) - errors
    noun = "file" if files == 1 else "files"
    if errors:
        lines.append(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning(s) in {files} {noun}.")
    else:
        lines.append(f"All manifests valid: {files} {noun}" + (f", {warnings} warning(s)." if warnings else "."))
    return lines


def as_json(diagnostics: Sequence[Diagnostic], *, files: int, manifests: int) -> str:
    """`validate --output json`: a versioned document."""
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "valid": errors == 0,
        "files": files,
        "manifests": manifests,
        "error_count": errors,
        "warning_count": len(diagnostics) - errors,
        "diagnostics": [d.to_json() for d in diagnostics],
    }
    return json.dumps(document, indent=2)
