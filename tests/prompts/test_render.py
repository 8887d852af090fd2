"""Strict rendering: typed variables, StrictUndefined, the sandbox, and errors that name the variable and
the prompt's file and line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.model import Variable
from controller.prompts.render import RenderError, render_source
from controller.prompts.variables import coerce, parse_assignments, resolve
from tests.prompts.conftest import load_sources, prompt_yaml

TEMPLATE_FILE = """\
Customer: {{ customer }}
{% for item in items %}
- {{ item.title }}
{% endfor %}
Tone: {{ tone }}
"""

VARIABLES = (
    "{customer: {type: string, maxLength: 10}, items: {type: array},"
    " tone: {type: string, enum: [friendly, formal], default: friendly, required: false}}"
)


@pytest.fixture
def file_prompt(write: Callable[..., Path]) -> Path:
    return write(
        {
            "prompts.yaml": prompt_yaml(template_file="t/greet.j2", variables=VARIABLES),
            "t/greet.j2": TEMPLATE_FILE,
        }
    )


def render_error(root: Path, values: dict[str, Any]) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render_source(load_sources(root)[0], values)
    return caught.value


def test_rendering_fills_defaults_and_loops(file_prompt: Path) -> None:
    rendered = render_source(load_sources(file_prompt)[0], {"customer": "Ada", "items": [{"title": "Refunds"}]})
    assert rendered.text == "Customer: Ada\n\n- Refunds\n\nTone: friendly\n"
    assert rendered.model == "publishers/google/models/gemini-2.0-flash"
    assert rendered.model_ref == "gemini-flash"


def test_a_missing_variable_names_itself_and_its_first_use_in_the_template_file(file_prompt: Path) -> None:
    error = render_error(file_prompt, {"customer": "Ada"})
    assert error.variables == ("items",)
    (diagnostic,) = error.diagnostics
    assert str(diagnostic.source) == f"{file_prompt / 't/greet.j2'}:2:16"
    assert "required variable 'items' is not set" in str(error)
    assert f"{file_prompt / 't/greet.j2'}:2:16" in str(error)


def test_a_mistyped_variable_names_itself_and_its_declaration_line_in_the_manifest(file_prompt: Path) -> None:
    error = render_error(file_prompt, {"customer": "Ada", "items": "not a list"})
    (diagnostic,) = error.diagnostics
    assert error.variables == ("items",)
    assert "variable 'items' must be an array (a list) (got string \"not a list\")" in diagnostic.summary
    assert diagnostic.source.file == str(file_prompt / "prompts.yaml")
    line = (file_prompt / "prompts.yaml").read_text().splitlines()[diagnostic.source.line - 1]
    assert "variables:" in line


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"customer": "Ada", "items": [], "tone": "rude"}, 'variable \'tone\' must be one of "friendly", "formal"'),
        ({"customer": "A" * 11, "items": []}, "variable 'customer' is 11 characters long; at most 10"),
        ({"customer": 7, "items": []}, "variable 'customer' must be a string (got integer 7)"),
        ({"customer": "Ada", "items": [], "colour": "red"}, "variable 'colour' is not declared"),
    ],
)
def test_values_are_checked_against_their_declarations(file_prompt: Path, values: dict[str, Any], message: str) -> None:
    assert message in str(render_error(file_prompt, values))


def test_every_problem_is_reported_at_once(file_prompt: Path) -> None:
    error = render_error(file_prompt, {"customer": 1})
    assert sorted(error.variables) == ["customer", "items"]


def test_an_undefined_attribute_names_the_template_line(file_prompt: Path) -> None:
    error = render_error(file_prompt, {"customer": "Ada", "items": [{"name": "no title"}]})
    (diagnostic,) = error.diagnostics
    assert str(diagnostic.source) == f"{file_prompt / 't/greet.j2'}:3:1"
    assert "has no attribute 'title'" in diagnostic.summary


def test_an_inline_template_error_points_into_the_manifest(write: Callable[..., Path]) -> None:
    root = write({"p.yaml": prompt_yaml(template="Line one\nHello {{ customer.first }}\n")})
    error = render_error(root, {"customer": "Ada"})
    (diagnostic,) = error.diagnostics
    lines = (root / "p.yaml").read_text().splitlines()
    assert diagnostic.source.file == str(root / "p.yaml")
    assert "customer.first" in lines[diagnostic.source.line - 1]


def test_the_sandbox_refuses_unsafe_attribute_access(write: Callable[..., Path]) -> None:
    root = write({"p.yaml": prompt_yaml(template="{{ customer.__class__.__mro__ }}\n")})
    error = render_error(root, {"customer": "Ada"})
    assert "cannot render" in str(error)
    assert "unsafe" in str(error) or "__class__" in str(error)


def test_integers_are_numbers_and_booleans_are_not() -> None:
    declared = {"n": Variable(type="number"), "flag": Variable(type="boolean"), "count": Variable(type="integer")}
    context, problems = resolve(declared, {"n": 3, "flag": True, "count": True})
    assert context == {"n": 3, "flag": True}
    assert [p.variable for p in problems] == ["count"]


def test_command_line_values_are_read_as_the_declared_type() -> None:
    declared = {
        "n": Variable(type="integer"),
        "x": Variable(type="number"),
        "ok": Variable(type="boolean"),
        "items": Variable(type="array"),
        "text": Variable(),
    }
    values = parse_assignments(("n=3", "x=0.5", "ok=TRUE", 'items=["a", 1]', "text=a=b"), declared)
    assert values == {"n": 3, "x": 0.5, "ok": True, "items": ["a", 1], "text": "a=b"}
    with pytest.raises(ValueError, match="--var n: cannot read 'three' as an integer"):
        coerce("n", declared["n"], "three")
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_assignments(("novalue",), declared)


def test_prompts_render_prints_the_text_or_the_error_with_file_and_line(
    file_prompt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli.main import main

    def run(*args: str) -> int:
        try:
            main(["prompts", "render", "greet", str(file_prompt), *args])
        except SystemExit as exited:
            return int(exited.code or 0)
        return 0

    assert run("--var", "customer=Ada", "--var", 'items=[{"title": "Refunds"}]', "--var", "tone=formal") == 0
    assert capsys.readouterr().out == "Customer: Ada\n\n- Refunds\n\nTone: formal\n"
    assert run("--var", "customer=Ada") == 1
    assert f"{file_prompt / 't/greet.j2'}:2:16 spec.variables.items:" in capsys.readouterr().err
    assert run("--var", "customer=Ada", "--var", "items=[]", "-o", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == "publishers/google/models/gemini-2.0-flash" and len(document["version"]) == 16
    assert document["model_ref"] == "gemini-flash"
