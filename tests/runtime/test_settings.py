"""A Prompt manifest's runtime settings travel in the published version: cache policy, safety rules,
Gemini safety settings and the fallback model (resolved like the model); a manifest that sets none
publishes the same version id as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.loader import load
from controller.prompts.source import sources_of
from controller.prompts.version import PromptVersion, version_of
from controller.runtime.settings import settings_of

MODELS = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: flash}
spec: {publisher: publishers/google/models/gemini-2.5-flash}
---
apiVersion: genaiops/v1
kind: Model
metadata: {name: lite}
spec: {publisher: publishers/google/models/gemini-2.5-flash-lite}
"""
PROMPT = """\
apiVersion: genaiops/v1
kind: Prompt
metadata: {name: support}
spec:
  model: flash
  template: "Answer {{ question }}"
  variables: {question: {type: string, maxLength: 500}}
  generationConfig: {temperature: 0}
"""
RUNTIME = """\
  fallbackModel: lite
  cache: {ttl: 10m, when: always}
  safetySettings:
    - {category: HARM_CATEGORY_HATE_SPEECH, threshold: BLOCK_LOW_AND_ABOVE}
  safety:
    denyPatterns: ["(?i)password"]
    outputDenyPatterns: ["secret"]
    redactInput: true
    fallbackText: Sorry.
"""


def _version(tmp_path: Path, extra: str = "") -> PromptVersion:
    (tmp_path / "m.yaml").write_text(MODELS + "---\n" + PROMPT + extra)
    result = load(tmp_path)
    assert result.ok, [d.render() for d in result.diagnostics]
    [source] = sources_of(result.manifests)
    return version_of(source)


def test_the_version_records_the_runtime_settings_and_they_read_back(tmp_path: Path) -> None:
    version = _version(tmp_path, RUNTIME)
    assert PromptVersion.from_json(version.to_json()) == version
    settings = settings_of(version)
    assert (settings.cache_when, settings.cache_ttl_s) == ("always", 600.0)
    assert settings.safety_settings == ({"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_LOW_AND_ABOVE"},)
    assert settings.fallback_model == "publishers/google/models/gemini-2.5-flash-lite"
    rules = settings.rules
    assert rules.redact_input and rules.fallback_text == "Sorry."
    assert rules.deny[0].pattern == "(?i)password" and rules.output_deny[0].pattern == "secret"


def test_a_manifest_without_runtime_settings_keeps_its_version_id(tmp_path: Path) -> None:
    plain = _version(tmp_path)
    assert plain.runtime == {}
    assert "cache" not in plain.content() and "safety" not in plain.content()
    defaults = _version(tmp_path, "  cache: {ttl: 1h, when: deterministic}\n")
    assert defaults.id == plain.id  # writing the defaults out changes nothing
    assert _version(tmp_path, "  cache: {when: never}\n").id != plain.id


def test_the_default_policy_caches_only_temperature_zero(tmp_path: Path) -> None:
    settings = settings_of(_version(tmp_path))
    assert (settings.cache_when, settings.cache_ttl_s) == ("deterministic", 3600.0)
    assert settings.cacheable({"temperature": 0.0})
    assert not settings.cacheable({"temperature": 0.2})
    assert not settings.cacheable({})  # the model's default temperature is not 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  safety: {denyPatterns: ['(unclosed']}\n", "invalid regular expression"),
        ("  cache: {when: sometimes}\n", "deterministic"),
        ("  cache: {ttl: 3600}\n", "needs a unit"),
        ("  safetySettings: [{category: HARM_CATEGORY_HATE_SPEECH, threshold: BLOCK_SOME}]\n", "BLOCK_ONLY_HIGH"),
    ],
)
def test_invalid_runtime_settings_are_manifest_errors(tmp_path: Path, extra: str, message: str) -> None:
    (tmp_path / "m.yaml").write_text(MODELS + "---\n" + PROMPT + extra)
    result = load(tmp_path)
    assert not result.ok
    assert any(message in d.render() for d in result.diagnostics), [d.render() for d in result.diagnostics]
