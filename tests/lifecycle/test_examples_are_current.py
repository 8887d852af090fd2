"""The examples are current on the model catalogue's own date: every Gemini model the example manifests, the
demo and the example pipeline name is in the catalogue and neither retired nor retiring within the default
horizon of its `read_on` day, and the docs name a retired model only where they discuss retirement.

These tests judge on the catalogue's `read_on` (not the suite's pinned GENAIOPS_TODAY): when the catalogue is
read again on a later day and a model the examples use has retired since, they fail and say which to move."""

from __future__ import annotations

import re
from datetime import date

import pytest

from controller.cli.demo_runtime import EMULATED_GEMINI, NEW_MODEL, OLD_MODEL
from controller.cli.demo_tuning import TUNING
from controller.loader import load
from controller.loader.model_refs import model_refs
from controller.model.catalogue.lifecycle import Horizon, Stage, lifecycle_of, model_catalogue, model_id_of
from tests.helpers import MANIFESTS, ROOT

# A Gemini model id (`gemini-3.5-flash`, `gemini-2.0-flash-001`), not a manifest name such as `gemini-flash`
# or a format name such as `gemini-sft`: a version number follows `gemini-`.
MODEL_ID = re.compile(r"\bgemini-\d+(?:\.\d+)?(?:-[a-z]+)*(?:-\d{3})?\b")
# The same models written as prose: "Gemini 2.5 Flash", "2.0 Flash-Lite", "2.5 Pro".
MODEL_PROSE = re.compile(r"\b(\d\.\d) (Flash-Lite|Flash|Pro)\b")
DISCUSSES_RETIREMENT = re.compile(r"retir|outdated", re.IGNORECASE)  # retire(d|s|ment), retiring
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])


def _horizon() -> Horizon:
    return Horizon(date.fromisoformat(model_catalogue().read_on))


def _problem(model_id: str) -> str | None:
    """Why `model_id` is not fit for an example on the catalogue's date, else None."""
    lifecycle = lifecycle_of(model_id, _horizon())
    if lifecycle.stage is Stage.UNKNOWN:
        return f"{model_id} is not in the model catalogue"
    if lifecycle.stage in (Stage.RETIRED, Stage.RETIRING):
        return lifecycle.describe()
    return None


def _manifest_model_ids() -> dict[str, set[str]]:
    """Every Google publisher model id the example manifests write, with where, for the base manifests and
    each environment's merge of them. A Prompt naming a Model or TuningJob manifest (`model: gemini-flash`)
    is not a model id (`model_refs` skips it): that manifest's own field is."""
    base = load(MANIFESTS)
    assert base.ok, base.diagnostics
    loads = [("base", base)] + [
        (env.metadata.name, load(MANIFESTS, env=env.metadata.name)) for env in base.environments
    ]
    found: dict[str, set[str]] = {}
    for name, result in loads:
        assert result.ok, (name, result.diagnostics)
        for ref in model_refs(result.manifests):
            manifest = ref.item.manifest
            found.setdefault(ref.model_id, set()).add(f"{name}: {manifest.kind}/{manifest.metadata.name}")
    return found


def _python_model_ids() -> dict[str, set[str]]:
    """The Gemini model ids the Python files under manifests/ (the example pipeline, the application) name."""
    found: dict[str, set[str]] = {}
    for path in sorted(MANIFESTS.rglob("*.py")):
        for match in MODEL_ID.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(0), set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_example_manifests_name_at_least_one_publisher_model_so_the_check_below_checks_something() -> None:
    assert "gemini-3.5-flash" in _manifest_model_ids()
    assert "gemini-3.5-flash" in _python_model_ids()  # the example pipeline's default base model


@pytest.mark.parametrize("source", ["manifests", "python"])
def test_every_model_the_examples_name_is_in_the_catalogue_and_current_on_its_date(source: str) -> None:
    found = _manifest_model_ids() if source == "manifests" else _python_model_ids()

    problems = {model_id: (why, sorted(where)) for model_id, where in found.items() if (why := _problem(model_id))}

    assert not problems, f"move these to a current model (`genaiops models outdated --write`): {problems}"


def test_the_demo_moves_between_current_models_and_tunes_a_tunable_one() -> None:
    base_models = re.findall(r"baseModel: (\S+)", TUNING)
    demo = {
        "old model": model_id_of(OLD_MODEL),
        "new model": model_id_of(NEW_MODEL),
        **{f"emulated {key}": key for key in EMULATED_GEMINI},
        **{f"tuning base {value}": value for value in base_models},
    }

    assert base_models and None not in demo.values()
    assert {what: why for what, model_id in demo.items() if (why := _problem(str(model_id)))} == {}
    for base_model in base_models:
        info = model_catalogue().find(base_model)
        assert info is not None and info.tuning, f"{base_model}: the catalogue does not say Vertex AI tunes it"
    old = model_catalogue().find(str(model_id_of(OLD_MODEL)))
    assert old is not None and old.successor == model_id_of(NEW_MODEL)  # the canary follows the catalogue


def _named_in(line: str) -> set[str]:
    ids = {match.group(0) for match in MODEL_ID.finditer(line)}
    ids |= {f"gemini-{version}-{tier.lower()}" for version, tier in MODEL_PROSE.findall(line)}
    return ids


def _retired_mentions(text: str, name: str) -> list[str]:
    """`name:line: model` for each retired (or retiring) model a line names without discussing retirement."""
    mentions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if DISCUSSES_RETIREMENT.search(line):
            continue
        for model_id in sorted(_named_in(line)):
            if lifecycle_of(model_id, _horizon()).stage in (Stage.RETIRED, Stage.RETIRING):
                mentions.append(f"{name}:{number}: {model_id}")
    return mentions


def test_the_docs_and_readme_name_a_retired_model_only_where_they_discuss_retirement() -> None:
    assert ROOT / "docs" / "model-lifecycle.md" in DOCS

    mentions = [
        mention
        for path in DOCS
        for mention in _retired_mentions(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]

    assert not mentions, "name a current model, or say the model is retired: " + "; ".join(mentions)


def test_the_docs_check_finds_a_retired_model_in_an_id_or_in_prose_and_lets_a_line_about_retirement_pass() -> None:
    text = (
        "use gemini-2.0-flash-001 here, or gemini-3.5-flash\n"
        "or Gemini 2.5 Flash-Lite, the gemini-sft format, the gemini-flash Model\n"
        "gemini-2.5-pro retired on 2026-10-20\n"
    )

    mentions = _retired_mentions(text, "x.md")

    assert mentions == ["x.md:1: gemini-2.0-flash-001", "x.md:2: gemini-2.5-flash-lite"]
