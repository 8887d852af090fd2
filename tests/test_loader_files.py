"""What the loader reads from the host: only regular files, never by blocking, and files a manifest names
(`templateFile`, `responseFile`) only inside the manifests root. The committed cases live in the corpus
(tests/corpus); these need things git cannot store (FIFOs) or depend on where the root is."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from controller.errors import UserError
from controller.loader import LoadResult, load
from controller.loader.checks import MAX_TEMPLATE_BYTES
from controller.prompts.source import sources_of

T = TypeVar("T")

PROMPT = """\
apiVersion: genaiops/v1
kind: Model
metadata: {{name: gemini-flash}}
spec: {{publisher: publishers/google/models/gemini-2.0-flash}}
---
apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: greeting}}
spec:
  model: gemini-flash
  templateFile: {template}
  variables:
    name: {{type: string}}
  tests:
    - name: greets
      vars: {{name: Ada}}
      responseFile: {response}
      assert: [{{type: contains, value: Ada}}]
"""


def _within(seconds: float, work: Callable[[], T]) -> T:
    """Run `work`, failing (instead of hanging the suite) if it blocks, as opening a FIFO would."""
    box: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as err:  # handed back to the test's thread
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds}s: something blocked"
    if errors:
        raise errors[0]
    return box[0]


def _prompt_tree(root: Path, *, template: str = "prompts/greeting.j2", response: str = "responses/greets.txt") -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "responses").mkdir(exist_ok=True)
    (root / "prompts" / "greeting.j2").write_text("Hello {{ name }}\n", encoding="utf-8")
    (root / "responses" / "greets.txt").write_text("Hello Ada\n", encoding="utf-8")
    manifest = root / "prompts.yaml"
    manifest.write_text(PROMPT.format(template=template, response=response), encoding="utf-8")
    return manifest


def _summaries(result: LoadResult) -> list[str]:
    return [d.render() for d in result.diagnostics]


def test_a_prompt_whose_files_stay_inside_the_root_loads(tmp_path: Path) -> None:
    _prompt_tree(tmp_path)
    assert _summaries(load(tmp_path)) == []


def test_a_relative_path_that_climbs_out_and_back_in_stays_inside_the_root(tmp_path: Path) -> None:
    _prompt_tree(tmp_path, template=f"../{tmp_path.name}/prompts/greeting.j2")
    assert _summaries(load(tmp_path)) == []


def test_a_symlink_to_a_file_inside_the_root_is_followed(tmp_path: Path) -> None:
    _prompt_tree(tmp_path, template="prompts/link.j2")
    (tmp_path / "prompts" / "link.j2").symlink_to("greeting.j2")
    assert _summaries(load(tmp_path)) == []


def test_the_root_of_a_single_file_is_its_directory(tmp_path: Path) -> None:
    manifest = _prompt_tree(tmp_path / "manifests")
    assert _summaries(load(manifest)) == []
    (tmp_path / "outside.j2").write_text("Hello {{ name }}\n", encoding="utf-8")
    manifest.write_text(PROMPT.format(template="../outside.j2", response="responses/greets.txt"), encoding="utf-8")
    (problem,) = load(manifest).diagnostics
    assert problem.path == "spec.templateFile"
    assert "leaves the manifests root" in problem.summary


def test_the_root_is_the_directory_given_not_the_directory_of_the_manifest(tmp_path: Path) -> None:
    """A template beside `team/` is inside `tmp_path` but outside the root `tmp_path/team`."""
    team = tmp_path / "team"
    team.mkdir()
    (tmp_path / "shared.j2").write_text("Hello {{ name }}\n", encoding="utf-8")
    (team / "responses").mkdir()
    (team / "responses" / "greets.txt").write_text("Hello Ada\n", encoding="utf-8")
    (team / "prompts.yaml").write_text(
        PROMPT.format(template="../shared.j2", response="responses/greets.txt"), encoding="utf-8"
    )
    assert _summaries(load(tmp_path)) == []
    (problem,) = load(team).diagnostics
    assert "leaves the manifests root" in problem.summary


def test_a_fifo_named_as_the_template_is_refused_without_being_opened(tmp_path: Path) -> None:
    _prompt_tree(tmp_path, template="prompts/pipe.j2")
    os.mkfifo(tmp_path / "prompts" / "pipe.j2")
    result = _within(10, lambda: load(tmp_path))
    (problem,) = result.diagnostics
    assert problem.path == "spec.templateFile"
    assert (problem.source.line, problem.source.column) == (11, 17)
    assert "template file 'prompts/pipe.j2' is a FIFO (named pipe), not a regular file" in problem.summary


def test_a_fifo_named_as_a_response_file_is_refused_without_being_opened(tmp_path: Path) -> None:
    _prompt_tree(tmp_path, response="responses/pipe.txt")
    os.mkfifo(tmp_path / "responses" / "pipe.txt")
    (problem,) = _within(10, lambda: load(tmp_path)).diagnostics
    assert problem.path == "spec.tests[0].responseFile"
    assert "is a FIFO (named pipe), not a regular file" in problem.summary


def test_a_template_larger_than_the_limit_is_refused_saying_so(tmp_path: Path) -> None:
    _prompt_tree(tmp_path)
    (tmp_path / "prompts" / "greeting.j2").write_text("x" * (MAX_TEMPLATE_BYTES + 1), encoding="utf-8")
    (problem,) = load(tmp_path).diagnostics
    assert "the limit is 256 KiB" in problem.summary


def test_a_template_swapped_for_an_escaping_symlink_after_validation_is_not_published(tmp_path: Path) -> None:
    _prompt_tree(tmp_path)
    result = load(tmp_path)
    assert result.ok
    template = tmp_path / "prompts" / "greeting.j2"
    template.unlink()
    template.symlink_to("/etc/hostname")
    with pytest.raises(UserError, match=r"resolves through a symlink to .*outside the manifests root"):
        sources_of(result.manifests)


def test_a_response_file_swapped_for_a_fifo_after_validation_is_not_read(tmp_path: Path) -> None:
    _prompt_tree(tmp_path)
    (source,) = sources_of(load(tmp_path).manifests)
    response = tmp_path / "responses" / "greets.txt"
    response.unlink()
    os.mkfifo(response)
    (test,) = source.prompt.spec.tests
    with pytest.raises(UserError, match="is a FIFO"):
        _within(10, lambda: source.response_of(test))


def test_a_fifo_named_like_a_manifest_is_an_error_and_never_opened(tmp_path: Path) -> None:
    _prompt_tree(tmp_path)
    os.mkfifo(tmp_path / "endpoints.yaml")
    result = _within(10, lambda: load(tmp_path))
    assert not result.ok
    assert _summaries(result) == [
        f"{tmp_path / 'endpoints.yaml'}:1:1: not loaded: it is a FIFO (named pipe), not a regular file; "
        "manifest files must be regular files"
    ]
    assert [item.label for item in result.manifests] == ["Model/gemini-flash", "Prompt/greeting"]


def test_a_fifo_given_as_the_path_is_an_error_and_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (problem,) = _within(10, lambda: load(tmp_path / "pipe.yaml")).diagnostics
    assert "is a FIFO (named pipe), not a regular file; give a manifest file or a directory" in problem.summary


def test_hidden_entries_are_still_skipped(tmp_path: Path) -> None:
    _prompt_tree(tmp_path)
    (tmp_path / ".git").mkdir()
    os.mkfifo(tmp_path / ".git" / "odd.yaml")
    os.mkfifo(tmp_path / ".odd.yaml")
    assert _summaries(_within(10, lambda: load(tmp_path))) == []
