"""The runtime client: cache with TTL, stale-while-revalidate, stale-if-error, the bundled snapshot when
the store cannot be reached (a real Cloud Storage client on a stopped emulator), and rendering."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from controller.cli.main import main
from controller.emulator.storage import StorageEmulator
from controller.errors import TransientError
from controller.prompts.client import PromptClient, PromptUnavailableError, Snapshot, snapshot_of
from controller.prompts.index import PromptIndex
from controller.prompts.render import RenderError
from controller.prompts.store import PromptStore, move_label, publish
from controller.prompts.version import PromptVersion, Provenance
from controller.providers.prompt_store import GcsPromptStore, LocalPromptStore

WHO = Provenance(created="2025-01-01T00:00:00+00:00", author="ada")


def version(template: str) -> PromptVersion:
    return PromptVersion(
        name="greet",
        template=template,
        model="gemini-flash",
        system_instruction="Be kind.",
        variables={"customer": {"type": "string"}},
        provenance=WHO,
    )


V1, V2 = version("Hello {{ customer }}!"), version("Hi {{ customer }}.")


class Flaky:
    """A PromptStore in front of a real local store that counts index reads and can be taken down."""

    def __init__(self, inner: PromptStore) -> None:
        self.inner = inner
        self.down = False
        self.reads = 0
        self.location = inner.location

    def list_prompts(self) -> list[str]:
        return self.inner.list_prompts()

    def read_index(self, name: str) -> PromptIndex | None:
        self.reads += 1
        if self.down:
            raise TransientError("store unreachable")
        return self.inner.read_index(name)

    def read_version(self, name: str, version: str) -> PromptVersion | None:
        return self.inner.read_version(name, version)

    def create_version(self, version: PromptVersion) -> bool:
        return self.inner.create_version(version)

    def update_index(self, name: str, change: Callable[[PromptIndex | None], PromptIndex]) -> PromptIndex:
        return self.inner.update_index(name, change)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Deferred:
    """A `spawn` that keeps background refreshes until the test runs them."""

    def __init__(self) -> None:
        self.pending: list[Callable[[], None]] = []

    def __call__(self, work: Callable[[], None]) -> None:
        self.pending.append(work)

    def run_all(self) -> None:
        while self.pending:
            self.pending.pop(0)()


@pytest.fixture
def store(tmp_path: Path) -> Flaky:
    inner = LocalPromptStore(tmp_path / "store")
    publish(inner, V1, ["production"])
    return Flaky(inner)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spawn() -> Deferred:
    return Deferred()


def client(store: PromptStore | None, clock: Clock, spawn: Deferred, **options: object) -> PromptClient:
    return PromptClient(store, ttl_s=60, stale_while_revalidate_s=300, clock=clock, spawn=spawn, **options)  # type: ignore[arg-type]


def test_a_fresh_version_is_served_from_memory_until_the_ttl(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    prompts = client(store, clock, spawn)
    assert prompts.get("greet").id == V1.id
    clock.now += 59
    assert prompts.get("greet").id == V1.id
    assert store.reads == 1 and not spawn.pending and prompts.origin("greet") == "store"


def test_after_the_ttl_the_stale_version_is_served_while_one_refresh_runs(
    store: Flaky, clock: Clock, spawn: Deferred
) -> None:
    prompts = client(store, clock, spawn)
    prompts.get("greet")
    publish(store.inner, V2, ["production"])
    clock.now += 61
    assert prompts.get("greet").id == V1.id  # stale, at once
    assert prompts.get("greet").id == V1.id
    assert len(spawn.pending) == 1  # one refresh, however many callers
    spawn.run_all()
    assert prompts.get("greet").id == V2.id
    assert store.reads == 2


def test_past_the_stale_window_the_client_fetches_before_answering(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    prompts = client(store, clock, spawn)
    prompts.get("greet")
    move_label(store.inner, "greet", "production", V1.id, WHO)
    publish(store.inner, V2, ["production"])
    clock.now += 361
    assert prompts.get("greet").id == V2.id and not spawn.pending


def test_when_the_store_fails_the_cached_version_is_served_however_old(
    store: Flaky, clock: Clock, spawn: Deferred
) -> None:
    prompts = client(store, clock, spawn)
    prompts.get("greet")
    store.down = True
    clock.now += 10_000
    assert prompts.get("greet").id == V1.id
    reads = store.reads
    clock.now += 30
    assert prompts.get("greet").id == V1.id and store.reads == reads  # not retried on every call
    clock.now += 61
    prompts.get("greet")
    spawn.run_all()  # the background retry fails quietly
    assert prompts.get("greet").id == V1.id


def test_with_no_cache_a_failing_store_falls_back_to_the_bundled_snapshot(
    store: Flaky, clock: Clock, spawn: Deferred, tmp_path: Path
) -> None:
    snapshot = snapshot_of(store.inner, ["production"])
    snapshot.save(tmp_path / "snap.json")
    store.down = True
    prompts = client(store, clock, spawn, snapshot=Snapshot.load(tmp_path / "snap.json"))
    assert prompts.get("greet").id == V1.id
    assert prompts.origin("greet") == "snapshot"
    store.down = False
    clock.now += 61
    prompts.get("greet")
    spawn.run_all()
    assert prompts.origin("greet") == "store"


def test_nothing_anywhere_is_prompt_unavailable(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    store.down = True
    with pytest.raises(PromptUnavailableError, match="snapshot does not have it"):
        client(store, clock, spawn).get("greet")
    with pytest.raises(PromptUnavailableError, match="no prompt store configured"):
        client(None, clock, spawn).get("greet")


def test_labels_are_cached_separately(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    publish(store.inner, V2, ["staging"])
    prompts = client(store, clock, spawn)
    assert prompts.get("greet").id == V1.id
    assert prompts.get("greet", label="staging").id == V2.id


def test_render_checks_variables_and_returns_the_settings(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    prompts = client(store, clock, spawn)
    rendered = prompts.render("greet", {"customer": "Ada"})
    assert (rendered.text, rendered.system_instruction, rendered.version) == ("Hello Ada!", "Be kind.", V1.id)
    with pytest.raises(RenderError, match=rf"prompt greet@{V1.id}:1:10 .*required variable 'customer' is not set"):
        prompts.render("greet", {})


def test_a_real_storage_client_on_a_dead_endpoint_falls_back_to_the_snapshot(
    new_client: Callable[[], storage.Client], bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = GcsPromptStore(new_client(), bucket, "p")
    publish(live, V1, ["production"])
    snapshot = snapshot_of(live, ["production"])
    dead_emulator = StorageEmulator()
    dead_emulator.start()
    dead_emulator.stop()  # nothing listens on its port any more
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead_emulator.url)
    dead_client = storage.Client(project="p", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    prompts = PromptClient(GcsPromptStore(dead_client, bucket, "p", retry_deadline_s=0.3), snapshot=snapshot)
    started = time.monotonic()
    assert prompts.render("greet", {"customer": "Ada"}).text == "Hello Ada!"
    assert prompts.origin("greet") == "snapshot"
    assert time.monotonic() - started < 5


def test_background_refresh_runs_on_a_thread_by_default(store: Flaky, clock: Clock) -> None:
    prompts = PromptClient(store, ttl_s=1, stale_while_revalidate_s=100, clock=clock)
    prompts.get("greet")
    publish(store.inner, V2, ["production"])
    clock.now += 2
    assert prompts.get("greet").id == V1.id
    deadline = time.monotonic() + 5
    while prompts.get("greet").id != V2.id:
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.005)


def test_prompts_snapshot_writes_a_file_the_client_reads(store: Flaky, tmp_path: Path) -> None:
    out = tmp_path / "bundle" / "prompts.snapshot.json"
    out.parent.mkdir()
    try:
        main(["prompts", "snapshot", "--prompt-store", store.location, "--out", str(out), "--label", "production"])
    except SystemExit as exited:
        assert not exited.code
    assert Snapshot.load(out).get("greet", "production") == V1
