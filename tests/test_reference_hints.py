"""A misspelt name gets the nearest valid one wherever it is referred to: Prompts named on the command line,
prompt labels in the store, and (with the corpus cases 100-136) Models, deployments and regions."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import NotFoundError, UserError
from controller.loader import load
from controller.prompts.source import sources_of
from controller.prompts.store import active, promote, publish
from controller.prompts.version import PromptVersion, Provenance
from controller.providers.prompt_store import LocalPromptStore

WHO = Provenance(created="2025-01-01T00:00:00+00:00", commit="abc123", author="ada@example.com")
PROMPT = """apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: {name}}}
spec:
  model: publishers/google/models/gemini-2.0-flash
  template: "Hello {{{{ who }}}}"
  variables:
    who: {{type: string}}
"""


def test_a_misspelt_prompt_name_gets_the_nearest_declared_prompt(tmp_path: Path) -> None:
    (tmp_path / "prompts.yaml").write_text(
        PROMPT.format(name="greeting") + "---\n" + PROMPT.format(name="farewell"), encoding="utf-8"
    )
    manifests = load(tmp_path).manifests
    with pytest.raises(
        UserError, match=r"no Prompt named 'greting' .*\(found: greeting, farewell\); did you mean 'greeting'\?"
    ):
        sources_of(manifests, name="greting")
    with pytest.raises(UserError) as nothing_close:
        sources_of(manifests, name="zzz")
    assert "did you mean" not in str(nothing_close.value)


def test_a_misspelt_prompt_label_gets_the_nearest_label(tmp_path: Path) -> None:
    store = LocalPromptStore(tmp_path / "store")
    version = PromptVersion(name="greet", template="Hello {{ who }}", model="gemini-flash", provenance=WHO)
    publish(store, version, ["staging", "production"])
    with pytest.raises(NotFoundError, match=r"has no label 'prodcution' .*; did you mean 'production'\?"):
        active(store, "greet", "prodcution")
    with pytest.raises(NotFoundError, match=r"has no label 'stagign' .*; did you mean 'staging'\?"):
        promote(store, "greet", "stagign", "production", WHO)
