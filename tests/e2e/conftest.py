"""Fixtures for end-to-end tests: a live emulator, manifests written to a temp dir, and the CLI."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

from controller.cli.main import cli
from controller.emulator.server import Emulator, running

MODEL = """\
apiVersion: genaiops/v1
kind: Model
metadata: {{name: {name}}}
spec:
  upload:
    artifactUri: {artifact}
    servingContainer: {{imageUri: us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest}}
    versionAliases: [{aliases}]
"""


def model_yaml(name: str = "llm", artifact: str = "gs://emulator-models/llm/v1", aliases: str = "stable") -> str:
    """A registry Model manifest."""
    return MODEL.format(name=name, artifact=artifact, aliases=aliases)


def endpoint_yaml(
    name: str = "chat",
    deployments: str = "[{name: primary, model: llm}]",
    traffic: str = "{primary: 100}",
    extra: str = "",
) -> str:
    """An Endpoint manifest."""
    return (
        textwrap.dedent(
            f"""\
        apiVersion: genaiops/v1
        kind: Endpoint
        metadata: {{name: {name}}}
        spec:
          deployments: {deployments}
          traffic: {traffic}
        """
        )
        + extra
    )


class Workspace:
    """A directory of manifests plus a way to run genaiops against the emulator from it."""

    def __init__(self, root: Path, emulator: Emulator) -> None:
        self.root = root
        self.emulator = emulator
        self.manifests = root / "manifests"
        self.manifests.mkdir()

    def write(self, **files: str) -> None:
        """Replace the manifests with these files (name -> YAML)."""
        for old in self.manifests.glob("*.yaml"):
            old.unlink()
        for name, text in files.items():
            (self.manifests / f"{name}.yaml").write_text(text, encoding="utf-8")

    def run(self, *args: str) -> Result:
        """`genaiops ARGS --emulator ADDR` in-process."""
        argv = [*args, "--emulator", self.emulator.grpc_target]
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    def apply(self, *extra: str) -> Result:
        """`genaiops apply manifests --auto-approve`."""
        return self.run(
            "apply", str(self.manifests), "--auto-approve", "--audit-log", str(self.root / "audit.log"), *extra
        )

    def plan(self, *extra: str) -> Result:
        """`genaiops plan manifests`."""
        return self.run("plan", str(self.manifests), *extra)

    def storage(self) -> storage.Client:
        """A plain Cloud Storage client on the emulator's JSON API (anonymous), as any user would build one."""
        return storage.Client(
            project=self.emulator.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.emulator.storage_host},
        )

    def endpoint(self, endpoint_id: str = "chat") -> Any:
        """The live endpoint, read with the real gapic client."""
        return self.emulator.endpoint_client().get_endpoint(name=f"{self.emulator.parent}/endpoints/{endpoint_id}")


@pytest.fixture
def make_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Workspace]]:
    """Start an emulator (options as for `running`) and give a workspace bound to it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    stack: list[Any] = []

    def make(**options: Any) -> Workspace:
        context = running(rest_port=None, storage_port=0, **options)
        emulator = context.__enter__()
        stack.append(context)
        return Workspace(tmp_path, emulator)

    yield make
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def workspace(make_workspace: Callable[..., Workspace]) -> Workspace:
    """A workspace on a plain emulator."""
    return make_workspace()


@pytest.fixture
def canary(make_workspace: Callable[..., Workspace]) -> Workspace:
    """An emulator with synthetic traffic (100 requests/s), and version 1 of `llm` serving the canary
    endpoint `chat` (see `canary_helpers.canary_yaml`)."""
    from tests.e2e.canary_helpers import HEALTHY_V1, TRAFFIC, served, write_version

    workspace = make_workspace(**TRAFFIC)
    write_version(workspace, HEALTHY_V1)
    first = workspace.apply()
    assert first.exit_code == 0, first.output
    assert served(workspace.endpoint()) == {"1": 100}
    return workspace


@pytest.fixture
def streaming_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """An emulator with REST (the chat adapter's :streamRawPredict), Cloud Monitoring taking a point every
    half second, and version 1 of `llm` serving `chat` (the streaming canaries, test_streaming_canary*.py)."""
    from tests.e2e.canary_helpers import STREAM_FAST, served, write_streaming  # it imports this module

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with running(rest_port=0, storage_port=0, min_alignment_period_s=1, min_point_spacing_s=0.5) as emulator:
        ws = Workspace(tmp_path, emulator)
        write_streaming(ws, STREAM_FAST)
        first = ws.apply()
        assert first.exit_code == 0, first.output
        assert served(ws.endpoint()) == {"1": 100}
        yield ws
