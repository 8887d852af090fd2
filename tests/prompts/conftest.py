"""Fixtures for the prompt tests: manifests written to a temp dir, and prompt stores — Cloud Storage on
the storage emulator through the real google.cloud.storage client, and a local directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from controller.emulator.storage import StorageEmulator
from controller.loader import load
from controller.prompts.source import PromptSource, sources_of
from controller.prompts.store import PromptStore
from controller.providers.prompt_store import GcsPromptStore, LocalPromptStore

BUCKET = "genaiops-prompts"

PUBLISHER_MODEL = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: gemini-flash}
spec: {publisher: publishers/google/models/gemini-2.0-flash}
"""


def prompt_yaml(
    name: str = "greet",
    *,
    template: str | None = None,
    template_file: str | None = None,
    variables: str = "{customer: {type: string}}",
    labels: str = "[production]",
    extra: str = "",
    model: str = "gemini-flash",
) -> str:
    """A Prompt manifest (inline template as a block scalar, or a template file)."""
    if template_file is not None:
        body = f"  templateFile: {template_file}\n"
    else:
        text = template if template is not None else "Hello {{ customer }}!\n"
        body = "  template: |\n" + textwrap.indent(text, "    ")
    return (
        "apiVersion: genaiops/v1\nkind: Prompt\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  model: {model}\n"
        f"{body}"
        f"  variables: {variables}\n"
        f"  labels: {labels}\n"
        f"{textwrap.indent(textwrap.dedent(extra), '  ') if extra else ''}"
    )


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write files under tmp_path/manifests (a Model for the prompts' model is always there)."""
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "models.yaml").write_text(PUBLISHER_MODEL)

    def make(files: dict[str, str]) -> Path:
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    return make


def load_sources(root: Path, name: str | None = None) -> list[PromptSource]:
    """Load manifests (asserting they are valid) and resolve their prompts."""
    result = load(root)
    assert result.ok, [d.render() for d in result.diagnostics]
    return sources_of(result.manifests, name=name)


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[StorageEmulator]:
    """One storage emulator for the session; each test uses its own bucket."""
    emulator = StorageEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def new_client(storage_emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch) -> Callable[[], storage.Client]:
    """Real google.cloud.storage clients on the emulator (each publisher gets its own, as processes would)."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator.url)

    def make() -> storage.Client:
        return storage.Client(project="local-project", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]

    return make


@pytest.fixture
def bucket(new_client: Callable[[], storage.Client], request: pytest.FixtureRequest) -> str:
    """A fresh bucket for this test."""
    name = f"{BUCKET}-{abs(hash(request.node.nodeid)) % 10**10}"
    new_client().create_bucket(name)
    return name


@pytest.fixture(params=["gcs", "local"])
def new_store(
    request: pytest.FixtureRequest, tmp_path: Path, new_client: Callable[[], storage.Client], bucket: str
) -> Callable[[], PromptStore]:
    """Stores on one location: Cloud Storage (under a prefix) through the emulator, or a local directory."""
    if request.param == "gcs":
        return lambda: GcsPromptStore(new_client(), bucket, "team/prompts", retry_deadline_s=5)
    return lambda: LocalPromptStore(tmp_path / "prompt-store")
