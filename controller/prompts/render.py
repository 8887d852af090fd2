"""Strict, sandboxed rendering of prompt templates: Jinja2's SandboxedEnvironment with StrictUndefined,
after the variables are checked against their declared types (`variables.py`).

Every failure is a `RenderError` whose diagnostics name the variable and the file and line: a missing
variable points at its first use in the template, a mistyped one at its declaration in the manifest, and
an error while rendering (an undefined attribute, something the sandbox forbids) at the template line.
Pure: `render_source` reads nothing; the template text is already in the `PromptSource`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from controller.diagnostics import Diagnostic, Source
from controller.errors import UserError
from controller.loader.templates import first_use
from controller.model import Variable
from controller.prompts.models import qualified
from controller.prompts.source import PromptSource
from controller.prompts.variables import resolve

_TEMPLATE_FILENAME = "<template>"


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered prompt and the settings to send with it.

    `model` is the Vertex AI model to call (`publishers/google/models/gemini-3.5-flash`, or
    `projects/P/locations/R/endpoints/E` for a registry model: see `models.py`); `model_ref` is what the
    manifest wrote (`gemini-flash`, `support-llm@3`)."""

    name: str
    text: str
    model: str
    system_instruction: str | None = None
    generation_config: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""
    model_ref: str = ""


class RenderError(UserError):
    """A template could not be rendered; `diagnostics` say where and why (one per problem)."""

    def __init__(self, prompt: str, diagnostics: list[Diagnostic]) -> None:
        self.prompt = prompt
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in diagnostics))

    @property
    def variables(self) -> tuple[str, ...]:
        """The variables the problems are about (empty for a template error)."""
        return tuple(d.path.removeprefix("spec.variables.") for d in self.diagnostics if d.path)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """The one rendering environment: sandboxed, strict about undefined names, no autoescaping."""
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _compiled(text: str) -> Template:
    return environment().from_string(text)


def _template_line(tb: TracebackType | None) -> int:
    """The innermost template line in a traceback (Jinja rewrites frames to template lines), else 0."""
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_text(
    template: str,
    *,
    name: str,
    declared: Mapping[str, Variable],
    values: Mapping[str, Any],
    declared_at: Callable[[str], Source],
    line_at: Callable[[int, int], Source],
) -> str:
    """Check `values` against `declared` and render `template`; raises RenderError naming file and line."""
    context, problems = resolve(declared, values)
    found: list[Diagnostic] = []
    for problem in problems:
        if problem.kind == "missing":
            where = line_at(*first_use(template, problem.variable))
        else:
            where = declared_at(problem.variable)
        summary = f"prompt {name!r}: {problem.message}"
        found.append(Diagnostic(summary, where, f"spec.variables.{problem.variable}"))
    if found:
        raise RenderError(name, found)
    try:
        return _compiled(template).render(context)
    except TemplateSyntaxError as err:
        where = line_at(err.lineno or 1, 1)
        raise RenderError(name, [Diagnostic(f"prompt {name!r}: template syntax error: {err.message}", where)]) from err
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as err:
        where = line_at(_template_line(sys.exc_info()[2]) or 1, 1)
        message = getattr(err, "message", None) or str(err)
        raise RenderError(name, [Diagnostic(f"prompt {name!r}: cannot render: {message}", where)]) from err


def render_source(source: PromptSource, values: Mapping[str, Any], *, project: str | None = None) -> RenderedPrompt:
    """Render a prompt from the manifests; errors name its template or manifest file and line. A registry
    model's name is completed with `project` when given (else it stays `locations/...`)."""
    spec = source.prompt.spec
    text = render_text(
        source.template,
        name=source.name,
        declared=spec.variables,
        values=values,
        declared_at=lambda variable: (
            source.at_field("spec", "variables", variable)
            if variable in spec.variables
            else source.at_field("spec", "variables")
        ),
        line_at=source.at_template_line,
    )
    return RenderedPrompt(
        name=source.name,
        text=text,
        model=qualified(source.vertex_model or spec.model, project),
        system_instruction=spec.system_instruction,
        generation_config=spec.generation_config.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        model_ref=spec.model,
    )
