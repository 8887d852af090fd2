"""Fixtures for the runtime client tests: the in-process emulator with endpoints served through Endpoint
Predict, prompts published to a local prompt store, a scripted Gemini behind the real google-genai SDK
(an httpx transport in the test process: the SDK builds and parses the real wire format), and a real
`redis-server` on a free loopback port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.cloud import aiplatform_v1 as v1

from controller.emulator.server import Emulator, running
from controller.prompts.client import PromptClient
from controller.prompts.store import PromptStore, publish
from controller.prompts.version import PromptVersion
from controller.providers.endpoint_model import EndpointModel
from controller.providers.genai_model import GeminiModel, gemini_client
from controller.providers.prompt_store import LocalPromptStore
from controller.providers.runtime_models import VertexModels
from controller.runtime import GenAIClient, RequestRecord

PROJECT, LOCATION = "local-project", "us-central1"
CHAT = f"projects/{PROJECT}/locations/{LOCATION}/endpoints/chat"
FLAKY = f"projects/{PROJECT}/locations/{LOCATION}/endpoints/flaky"
FLASH = "publishers/google/models/gemini-2.5-flash"
LITE = "publishers/google/models/gemini-2.5-flash-lite"


def _deploy(emu: Emulator, name: str, artifact: str) -> None:
    model = v1.Model(
        display_name=name,
        artifact_uri=artifact,
        container_spec={"image_uri": "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"},
    )
    request = {"parent": emu.parent, "model": model, "model_id": name}
    uploaded = emu.model_client().upload_model(request=request).result(timeout=10)
    endpoints = emu.endpoint_client()
    request = {"parent": emu.parent, "endpoint": v1.Endpoint(display_name=name), "endpoint_id": name}
    endpoint = endpoints.create_endpoint(request=request).result(timeout=10)
    deployed = v1.DeployedModel(
        model=uploaded.model,
        dedicated_resources={"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 1},
    )
    endpoints.deploy_model(endpoint=endpoint.name, deployed_model=deployed, traffic_split={"0": 100}).result(timeout=10)


@pytest.fixture(scope="package")
def emulator() -> Iterator[Emulator]:
    """An emulator (gRPC and the REST gateway google-genai talks to) with endpoint `chat` (a healthy echoing
    model) and `flaky` (always HTTP 500); Gemini models are served by name."""
    with running(project=PROJECT, location=LOCATION, rest_port=0, storage_port=None) as emu:
        _deploy(emu, "chat", "gs://emulator-models/chat?latency_ms=1")
        _deploy(emu, "flaky", "gs://emulator-models/flaky?error_rate=1&latency_ms=1")
        yield emu


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    """A local prompt store."""
    return LocalPromptStore(tmp_path / "prompt-store")


def version(
    name: str = "support",
    *,
    template: str = "Answer {{ question }}",
    model: str = CHAT,
    system_instruction: str | None = "Be brief.",
    generation_config: Mapping[str, Any] | None = None,
    variables: Mapping[str, Mapping[str, Any]] | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> PromptVersion:
    """A prompt version as publishing records it (`model` is the resolved Vertex model)."""
    return PromptVersion(
        name=name,
        template=template,
        model="ref",
        system_instruction=system_instruction,
        generation_config=dict(generation_config if generation_config is not None else {"temperature": 0.0}),
        variables={k: dict(v) for k, v in (variables or {"question": {"type": "string"}}).items()},
        vertex_model=model,
        runtime=dict(runtime or {}),
    )


def publish_version(store: PromptStore, prompt: PromptVersion, label: str = "production") -> str:
    """Publish and point `label` at it; the version id."""
    return publish(store, prompt, [label]).version


@dataclass
class Records:
    """A recorder that keeps what it is given."""

    records: list[RequestRecord] = field(default_factory=list)

    def record(self, record: RequestRecord) -> None:
        self.records.append(record)

    def record_feedback(self, feedback: object) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class FakeGemini:
    """A scripted Gemini on the google-genai wire: answers `echo: <prompt>` with usage metadata; `errors`
    are HTTP codes to answer first (one per call); a prompt containing BLOCKME finishes with SAFETY;
    streams come as `chunks` SSE events. `bodies` keeps every request body."""

    errors: list[int] = field(default_factory=list)
    chunks: int = 3
    usage: Mapping[str, int] = field(
        default_factory=lambda: {"promptTokenCount": 1200, "candidatesTokenCount": 300, "thoughtsTokenCount": 100}
    )
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    echo_in_errors: bool = False  # error messages quote the prompt (as some API errors quote fields)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        self.paths.append(request.url.path)
        if self.errors:
            code = self.errors.pop(0)
            status = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 400: "INVALID_ARGUMENT"}.get(code, "INTERNAL")
            message = "scripted: " + body["contents"][0]["parts"][0]["text"] if self.echo_in_errors else "scripted"
            return httpx.Response(code, json={"error": {"code": code, "message": message, "status": status}})
        text = "echo: " + body["contents"][0]["parts"][0]["text"]
        blocked = "BLOCKME" in text
        if request.url.path.endswith(":streamGenerateContent"):
            size = max(1, len(text) // self.chunks + 1)
            pieces = [text[i : i + size] for i in range(0, len(text), size)]
            events = [self._response(p, last=i == len(pieces) - 1, blocked=blocked) for i, p in enumerate(pieces)]
            payload = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events)
            return httpx.Response(200, content=payload.encode(), headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=self._response(text, last=True, blocked=blocked))

    def _response(self, text: str, *, last: bool, blocked: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"index": 0, "content": {"role": "model", "parts": [{"text": text}]}}
        if last:
            candidate["finishReason"] = "SAFETY" if blocked else "STOP"
            rating = {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH" if blocked else "NEGLIGIBLE"}
            candidate["safetyRatings"] = [{**rating, "blocked": blocked}]
        response: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash-001"}
        if last:
            response["usageMetadata"] = {**self.usage, "totalTokenCount": sum(self.usage.values())}
        return response


@pytest.fixture(scope="package")
def wired(emulator: Emulator) -> tuple[list[FakeGemini], VertexModels]:
    """Endpoint Predict on the emulator, Gemini through google-genai on a scripted transport (built once:
    a google-genai client takes a noticeable time to construct); the transport answers with the current
    test's FakeGemini."""
    current = [FakeGemini()]

    def answer(request: httpx.Request) -> httpx.Response:
        return current[0](request)

    transport = httpx.MockTransport(answer)
    client = gemini_client(
        project=PROJECT,
        location=LOCATION,
        base_url="http://gemini.test",
        httpx_client=httpx.Client(transport=transport),
        httpx_async_client=httpx.AsyncClient(transport=transport),
    )
    return current, VertexModels(gemini=GeminiModel(client), endpoints=EndpointModel(emulator.prediction_client()))


@pytest.fixture
def gemini(wired: tuple[list[FakeGemini], VertexModels]) -> FakeGemini:
    """A fresh scripted Gemini for this test."""
    wired[0][0] = FakeGemini()
    return wired[0][0]


@pytest.fixture
def models(wired: tuple[list[FakeGemini], VertexModels], gemini: FakeGemini) -> VertexModels:
    """The adapters, answering with this test's `gemini`."""
    return wired[1]


@pytest.fixture
def records() -> Records:
    """The requests a client recorded."""
    return Records()


@pytest.fixture
def make_client(store: PromptStore, models: VertexModels, records: Records) -> Callable[..., GenAIClient]:
    """A GenAIClient on the local store, the emulator and the scripted Gemini (fast retries)."""

    def make(**options: Any) -> GenAIClient:
        prompts = PromptClient(store, project=PROJECT)
        options.setdefault("backoff_s", 0.01)
        options.setdefault("max_backoff_s", 0.02)
        options.setdefault("recorder", records)
        options.setdefault("project", PROJECT)
        return GenAIClient(prompts, models, **options)

    return make


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A real redis-server this test started (and kills)."""

    process: subprocess.Popen[bytes]
    port: int
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait(timeout=10)


def start_redis(tmp_path: Path, *, password: str | None = None) -> RedisServer:
    """Start redis-server on a free loopback port (no persistence) and wait until it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed (apt-get install -y redis-server; `make test` does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--requirepass", password] if password else []
    process = subprocess.Popen([*args, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                    return RedisServer(process, port, password)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not answer on port {port}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server for one test."""
    server = start_redis(tmp_path)
    yield server
    if server.process.poll() is None:
        server.kill()
