"""Static checks of prompt templates: syntax and the variables they use (Jinja2, sandboxed).

Rendering lives with the prompt runtime; here we only parse, so validation never executes a template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment


@cache
def environment() -> SandboxedEnvironment:
    """The one Jinja environment genaiops parses templates with."""
    return SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class TemplateInfo:
    """What a template uses, or the syntax error that stops it being read."""

    variables: frozenset[str]
    error: str | None = None
    error_line: int = 0


def analyse(source: str) -> TemplateInfo:
    """Parse a template and list the variables it reads from its context."""
    try:
        tree = environment().parse(source)
        # Walking the tree also checks names the parser accepts: an unknown filter or test raises
        # TemplateAssertionError (a TemplateSyntaxError) here, not in parse().
        variables = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as err:
        return TemplateInfo(frozenset(), f"template syntax error: {err.message}", err.lineno or 1)
    return TemplateInfo(frozenset(variables))


def first_use(source: str, variable: str) -> tuple[int, int]:
    """1-based line and column where `variable` first appears inside a Jinja tag, else (1, 1)."""
    pattern = re.compile(r"\{[{%][^}]*?\b(" + re.escape(variable) + r")\b")
    for number, line in enumerate(source.splitlines(), start=1):
        match = pattern.search(line)
        if match:
            return number, match.start(1) + 1
    return 1, 1
