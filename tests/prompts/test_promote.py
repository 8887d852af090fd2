"""`genaiops prompts promote NAME --from staging --to production` (through both stores), `prompts history
--output json`, and the Vertex AI model a prompt runs on: resolved from the manifests at publish, recorded
in the version, handed out by the runtime client as `rendered.model` (issue 12 item 6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import main
from controller.errors import NotFoundError, UserError
from controller.loader import load
from controller.model import Manifest
from controller.prompts.client import ProjectNeededError, PromptClient
from controller.prompts.models import qualified, vertex_model
from controller.prompts.store import PromptStore, active, move_label, promote, publish, rollback
from controller.prompts.version import PromptVersion, Provenance, version_of
from controller.providers.prompt_store import LocalPromptStore
from tests.prompts.conftest import load_sources, prompt_yaml

WHO = Provenance(created="2025-01-01T00:00:00+00:00", commit="abc123", author="ada@example.com")


def version(template: str, **fields: Any) -> PromptVersion:
    return PromptVersion(name="greet", template=template, model="gemini-flash", provenance=WHO, **fields)


V1, V2 = version("Hello {{ customer }}!"), version("Hi {{ customer }}.")


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


# -- promote ------------------------------------------------------------------------------------------
def test_promote_points_the_target_at_the_version_the_source_points_at(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    publish(store, V1, ["staging", "production"])
    publish(store, V2, ["staging"])
    done = promote(store, "greet", "staging", "production", WHO)
    assert (done.version, done.previous, done.moved) == (V2.id, V1.id, True)
    assert active(store, "greet", "production").id == V2.id
    assert active(store, "greet", "staging").id == V2.id
    last = done.index.history[-1]
    assert (last.label, last.previous, last.version, last.author, last.applied) == (
        "production",
        V1.id,
        V2.id,
        "ada@example.com",
        False,
    )
    assert rollback(store, "greet", "production", WHO).labels["production"] == V1.id  # rollback undoes it


def test_promote_to_a_new_label_creates_it_and_twice_moves_nothing(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    publish(store, V1, ["staging"])
    first = promote(store, "greet", "staging", "canary", WHO)
    assert (first.previous, first.moved) == (None, True)
    again = promote(store, "greet", "staging", "canary", WHO)
    assert not again.moved
    assert len(again.index.history) == len(first.index.history)


def test_promote_reads_the_source_label_inside_the_compare_and_swap(tmp_path: Path) -> None:
    store = LocalPromptStore(tmp_path / "store")
    publish(store, V1, ["staging", "production"])
    publish(store, V2, [])

    class MovedMeanwhile(LocalPromptStore):
        """Another writer moves staging to V2 just before our update is applied."""

        def update_index(self, name: str, change: Callable[[Any], Any]) -> Any:
            move_label(store, name, "staging", V2.id, WHO)
            return super().update_index(name, change)

    done = promote(MovedMeanwhile(tmp_path / "store"), "greet", "staging", "production", WHO)
    assert done.version == V2.id
    assert active(store, "greet", "production").id == V2.id


def test_promote_says_which_prompt_or_label_is_unknown(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    with pytest.raises(NotFoundError, match="prompt 'greet' was never published"):
        promote(store, "greet", "staging", "production", WHO)
    publish(store, V1, ["production"])
    with pytest.raises(NotFoundError, match=r"prompt 'greet' has no label 'staging' .*\(labels: production\)"):
        promote(store, "greet", "staging", "production", WHO)
    with pytest.raises(UserError, match="to itself"):
        promote(store, "greet", "production", "production", WHO)


def test_prompts_promote_from_the_cli_prints_the_move_and_errors_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = str(tmp_path / "store")
    store = LocalPromptStore(Path(where))
    publish(store, V1, ["staging", "production"])
    publish(store, V2, ["staging"])
    args = ("prompts", "promote", "greet", "--from", "staging", "--to", "production", "--prompt-store", where)
    assert cli(*args) == 0
    assert (
        capsys.readouterr().out == f"Prompt/greet: production -> {V2.id} (was {V1.id}), the version staging points at\n"
    )
    assert cli(*args) == 0
    assert "already points at" in capsys.readouterr().out
    assert cli("prompts", "promote", "greet", "--from", "qa", "--to", "production", "--prompt-store", where) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: prompt 'greet' has no label 'qa'") and "Traceback" not in err
    assert cli("prompts", "promote", "nope", "--from", "staging", "--to", "production", "--prompt-store", where) == 1
    assert "prompt 'nope' was never published" in capsys.readouterr().err


# -- history --output json ----------------------------------------------------------------------------
def test_prompts_history_prints_a_versioned_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = str(tmp_path / "store")
    store = LocalPromptStore(Path(where))
    publish(store, V1, ["staging", "production"])
    publish(store, V2, ["staging"])
    assert cli("prompts", "history", "greet", "--prompt-store", where, "--output", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["format_version"] == "1.0" and document["prompt"] == "greet" and document["store"] == where
    assert document["labels"] == {"production": V1.id, "staging": V2.id}
    assert [(v["version"], v["labels"], v["commit"]) for v in document["versions"]] == [
        (V2.id, ["staging"], "abc123"),
        (V1.id, ["production"], "abc123"),
    ]
    assert [(m["label"], m["previous"], m["version"]) for m in document["history"]][-1] == ("staging", V1.id, V2.id)
    assert cli("prompts", "history", "greet", "--prompt-store", where) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(f"{V2.id}  2025-01-01")


# -- the Vertex AI model ------------------------------------------------------------------------------
def _manifests(tmp_path: Path, text: str) -> list[Manifest]:
    (tmp_path / "m.yaml").write_text(text)
    result = load(tmp_path / "m.yaml")
    assert result.ok, [d.render() for d in result.diagnostics]
    return [item.manifest for item in result.manifests]


REGISTRY = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: support-llm}
spec:
  region: europe-west4
  upload: {artifactUri: gs://models/m, servingContainer: {imageUri: us-docker.pkg.dev/x/y:1}}
---
apiVersion: genaiops/v1
kind: Model
metadata: {name: gemini-flash}
spec: {publisher: publishers/google/models/gemini-2.0-flash}
"""
SERVED = """\
---
apiVersion: genaiops/v1
kind: Endpoint
metadata: {name: chat}
spec: {region: europe-west4, deployments: [{name: primary, model: support-llm}], traffic: {primary: 100}}
"""


@pytest.mark.parametrize(
    ("ref", "served", "expected"),
    [
        ("publishers/google/models/gemini-2.0-flash", False, "publishers/google/models/gemini-2.0-flash"),
        ("gemini-flash", False, "publishers/google/models/gemini-2.0-flash"),
        ("support-llm", True, "locations/europe-west4/endpoints/chat"),
        ("support-llm@3", False, "locations/europe-west4/models/support-llm@3"),
        ("support-llm", False, "locations/europe-west4/models/support-llm"),
        ("unknown-model", False, "unknown-model"),
    ],
)
def test_a_model_reference_resolves_to_the_vertex_name_an_application_calls(
    tmp_path: Path, ref: str, served: bool, expected: str
) -> None:
    manifests = _manifests(tmp_path, REGISTRY + (SERVED if served else ""))
    assert vertex_model(ref, manifests) == expected


def test_a_registry_name_is_completed_with_the_project_and_a_publisher_name_is_left_alone() -> None:
    assert qualified("locations/us-central1/endpoints/chat", "p1") == "projects/p1/locations/us-central1/endpoints/chat"
    assert qualified("locations/us-central1/endpoints/chat", None) == "locations/us-central1/endpoints/chat"
    assert qualified("publishers/google/models/gemini-2.0-flash", "p1") == "publishers/google/models/gemini-2.0-flash"


def test_a_version_published_before_the_vertex_model_was_recorded_keeps_its_id() -> None:
    old = version("Hello {{ customer }}!")
    document = old.to_json()
    assert "vertexModel" not in document
    assert PromptVersion.from_json(document).id == old.id  # reads back, id unchanged
    direct = PromptVersion(
        name="greet",
        template="x",
        model="publishers/google/models/gemini-2.0-flash",
        vertex_model="publishers/google/models/gemini-2.0-flash",
    )
    assert direct.id == PromptVersion(name="greet", template="x", model=direct.model).id
    resolved = version("Hello {{ customer }}!", vertex_model="publishers/google/models/gemini-2.0-flash")
    assert resolved.id != old.id  # what it runs on is content: a changed Model manifest is a new version
    assert PromptVersion.from_json(resolved.to_json()) == resolved


def test_publishing_records_the_vertex_model_and_the_client_hands_it_out(
    write: Callable[[dict[str, str]], Path], tmp_path: Path
) -> None:
    root = write({"prompts.yaml": prompt_yaml(labels="[staging]")})
    published = version_of(load_sources(root)[0], WHO)
    assert published.to_json()["vertexModel"] == "publishers/google/models/gemini-2.0-flash"
    store = LocalPromptStore(tmp_path / "store")
    publish(store, published, ["staging"])
    rendered = PromptClient(store, label="staging").render("greet", {"customer": "Ada"})
    assert (rendered.model, rendered.model_ref) == ("publishers/google/models/gemini-2.0-flash", "gemini-flash")


def test_a_registry_model_prompt_names_the_endpoint_in_the_clients_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    store = LocalPromptStore(tmp_path / "store")
    served = version(
        "Hello {{ customer }}!",
        variables={"customer": {"type": "string"}},
        vertex_model="locations/europe-west4/endpoints/chat",
    )
    publish(store, served, ["production"])
    rendered = PromptClient(store, project="acme-prod").render("greet", {"customer": "Ada"})
    assert rendered.model == "projects/acme-prod/locations/europe-west4/endpoints/chat"
    with pytest.raises(ProjectNeededError, match="project="):
        PromptClient(store).render("greet", {"customer": "Ada"})
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert PromptClient(store).render("greet", {"customer": "Ada"}).model.startswith("projects/from-env/")
