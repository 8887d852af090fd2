"""Diagnostics: the one shape every user-facing problem takes, from the loader to the executor.

A diagnostic names the file, line and column, the field path inside the document and what was expected,
so that `genaiops validate` can print `manifests/chat.yaml:14:7 spec.traffic: traffic must sum to 100`.
Pure data: rendering lives in the views, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a problem is: errors fail validation, warnings are printed only."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Source:
    """A position in a file; line and column are 1-based, 0 when unknown."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{max(self.column, 1)}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in the manifests (or, later, while planning or applying)."""

    summary: str
    source: Source
    path: str = ""  # field path inside the document, such as `spec.traffic.primary`
    severity: Severity = Severity.ERROR
    detail: str = ""

    def render(self) -> str:
        """The one-line form: `file:line:col field.path: message`."""
        where = f"{self.source} {self.path}:" if self.path else f"{self.source}:"
        prefix = "" if self.severity is Severity.ERROR else f"{self.severity.value}: "
        return f"{where} {prefix}{self.summary}"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; the shape is part of `validate --output json`."""
        return {
            "severity": self.severity.value,
            "file": self.source.file,
            "line": self.source.line,
            "column": self.source.column,
            "path": self.path,
            "summary": self.summary,
            "detail": self.detail,
        }


def has_errors(diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> bool:
    """True when any diagnostic is an error (warnings alone do not fail validation)."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    """Stable order for output: by file, then position, then field path."""
    src = diagnostic.source
    return (src.file, src.line, src.column, diagnostic.path)
