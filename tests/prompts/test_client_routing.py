"""Prompt canaries in the prompt client: the label's rollout record in a real local store's index routes
each request sticky by its routing key (`controller.rollout.assignment`), read and cached with the prompt
(TTL, stale-while-revalidate, stale-if-error); records that must not steer traffic (left over after a
move by hand, rolled back, finished) and candidates that cannot be read route everything to the stable."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.errors import TransientError
from controller.observed import Phase
from controller.prompts.client import PromptClient, Snapshot, snapshot_of
from controller.prompts.index import LabelRollout, PromptIndex, with_rollout
from controller.prompts.store import PromptStore, list_version, move_label, publish, version_path
from controller.prompts.version import PromptVersion, Provenance
from controller.providers.prompt_store import LocalPromptStore
from controller.rollout.state import RolloutState

WHO = Provenance(created="2025-01-01T00:00:00+00:00", author="ada")
KEYS = [f"user-{i}" for i in range(10_000)]


def version(template: str) -> PromptVersion:
    return PromptVersion(
        name="greet",
        template=template,
        model="gemini-flash",
        variables={"customer": {"type": "string"}},
        provenance=WHO,
    )


STABLE, CANDIDATE, OTHER = (
    version("Hello {{ customer }}!"),
    version("Hi {{ customer }}."),
    version("Hey {{ customer }}"),
)


class Flaky:
    """A PromptStore in front of a real local store: can be taken down, counts version reads."""

    def __init__(self, inner: LocalPromptStore) -> None:
        self.inner = inner
        self.down = False
        self.version_reads = 0
        self.location = inner.location

    def list_prompts(self) -> list[str]:
        return self.inner.list_prompts()

    def read_index(self, name: str) -> PromptIndex | None:
        if self.down:
            raise TransientError("store unreachable")
        return self.inner.read_index(name)

    def read_version(self, name: str, version: str) -> PromptVersion | None:
        if self.down:
            raise TransientError("store unreachable")
        self.version_reads += 1
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


def no_draw(_n: int) -> int:
    raise AssertionError("a keyed request, or a label without a canary, must not draw at random")


def canary(
    store: PromptStore,
    *,
    weight: int,
    phase: Phase = Phase.PROGRESSING,
    candidate: str = CANDIDATE.id,
    label: str = "production",
) -> None:
    """Record a canary of CANDIDATE on `label` (stable: STABLE) by compare-and-swap, as the controller does."""
    state = RolloutState(deployment=label, revision=CANDIDATE.id, phase=phase, canary_id=candidate, stable_id=STABLE.id)
    store.update_index("greet", lambda index: with_rollout(_present(index), LabelRollout(state, weight)))


def _present(index: PromptIndex | None) -> PromptIndex:
    assert index is not None
    return index


@pytest.fixture
def local(tmp_path: Path) -> LocalPromptStore:
    store = LocalPromptStore(tmp_path / "store")
    publish(store, STABLE, ["production", "staging"])
    list_version(store, CANDIDATE)
    return store


@pytest.fixture
def store(local: LocalPromptStore) -> Flaky:
    return Flaky(local)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spawn() -> Deferred:
    return Deferred()


def client(
    store: PromptStore | None, clock: Clock, spawn: Deferred, *, rng: Callable[[int], int] = no_draw, **options: object
) -> PromptClient:
    return PromptClient(
        store,
        ttl_s=60,
        stale_while_revalidate_s=300,
        clock=clock,
        spawn=spawn,
        rng=rng,
        **options,  # type: ignore[arg-type]
    )


def on_candidate(prompts: PromptClient, keys: list[str]) -> set[str]:
    return {key for key in keys if prompts.get("greet", routing_key=key).id == CANDIDATE.id}


def test_the_same_key_always_gets_the_same_version_at_a_given_weight(
    store: Flaky, clock: Clock, spawn: Deferred
) -> None:
    canary(store, weight=30)
    first = client(store, clock, spawn)
    chosen = {key: first.get("greet", routing_key=key).id for key in KEYS[:2000]}
    assert set(chosen.values()) == {STABLE.id, CANDIDATE.id}
    assert all(first.get("greet", routing_key=key).id == chosen[key] for key in KEYS[:2000])
    other_process = client(store, Clock(), Deferred())
    assert all(other_process.get("greet", routing_key=key).id == chosen[key] for key in KEYS[:2000])


@pytest.mark.parametrize("weight", [10, 50])
def test_over_ten_thousand_keys_the_candidate_share_is_within_two_points_of_the_weight(
    store: Flaky, clock: Clock, spawn: Deferred, weight: int
) -> None:
    canary(store, weight=weight)
    share = len(on_candidate(client(store, clock, spawn), KEYS)) / len(KEYS)
    assert abs(share - weight / 100) <= 0.02


def test_raising_the_weight_only_adds_keys_to_the_candidate(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    canary(store, weight=10)
    at_10 = on_candidate(client(store, clock, spawn), KEYS)
    canary(store, weight=30)
    at_30 = on_candidate(client(store, clock, spawn), KEYS)
    assert at_10 < at_30
    assert abs(len(at_30) / len(KEYS) - 0.30) <= 0.02


def test_a_keyless_request_is_assigned_by_the_injected_random_source(
    store: Flaky, clock: Clock, spawn: Deferred
) -> None:
    canary(store, weight=10)  # the candidate owns buckets [0, 1000)
    assert client(store, clock, spawn, rng=lambda _n: 999).get("greet").id == CANDIDATE.id
    assert client(store, clock, spawn, rng=lambda _n: 1000).get("greet").id == STABLE.id
    seeded = client(store, clock, spawn, rng=random.Random(7).randrange)
    drawn = [seeded.get("greet", routing_key=None).id for _ in range(10_000)]
    assert abs(drawn.count(CANDIDATE.id) / len(drawn) - 0.10) <= 0.02


def test_without_a_canary_nothing_is_drawn_and_the_label_is_served(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    canary(store, weight=50, label="staging")  # a canary on another label
    prompts = client(store, clock, spawn)  # rng=no_draw fails the test on any draw
    assert {prompts.get("greet", routing_key=key).id for key in KEYS[:500]} == {STABLE.id}
    assert prompts.get("greet").id == STABLE.id
    assert prompts.routing("greet").candidate is None


def test_a_candidate_whose_version_file_is_missing_routes_everything_to_the_stable(
    local: LocalPromptStore, store: Flaky, clock: Clock, spawn: Deferred, caplog: pytest.LogCaptureFixture
) -> None:
    canary(store, weight=50)
    (local.root / version_path("greet", CANDIDATE.id)).unlink()
    with caplog.at_level(logging.WARNING, logger="controller.prompts.client"):
        prompts = client(store, clock, spawn)
        assert on_candidate(prompts, KEYS[:1000]) == set()
    assert prompts.routing("greet").candidate is None
    [warning] = [r.getMessage() for r in caplog.records]
    assert CANDIDATE.id in warning and "stable" in warning
    assert "user-" not in warning and "Hi " not in warning  # no routing key, no content


def test_a_candidate_whose_version_file_is_corrupt_routes_everything_to_the_stable(
    local: LocalPromptStore, store: Flaky, clock: Clock, spawn: Deferred
) -> None:
    canary(store, weight=50)
    (local.root / version_path("greet", CANDIDATE.id)).write_text("{not json")
    assert on_candidate(client(store, clock, spawn), KEYS[:1000]) == set()


def test_a_record_left_over_after_the_label_was_moved_by_hand_routes_nothing(
    store: Flaky, clock: Clock, spawn: Deferred
) -> None:
    canary(store, weight=50)
    publish(store.inner, OTHER, ["production"])  # moved by hand: the record's stable is not the label's
    index = store.inner.read_index("greet")
    assert index is not None and index.rollouts["production"].stable == STABLE.id
    prompts = client(store, clock, spawn)
    assert {prompts.get("greet", routing_key=key).id for key in KEYS[:1000]} == {OTHER.id}


@pytest.mark.parametrize(
    ("weight", "phase", "candidate"),
    [
        (0, Phase.DEGRADED, ""),  # rolled back
        (0, Phase.PROGRESSING, CANDIDATE.id),  # no weight yet
        (30, Phase.PROGRESSING, ""),  # no candidate
        (30, Phase.DEGRADED, CANDIDATE.id),
        (30, Phase.HEALTHY, CANDIDATE.id),  # promoted: the label moves, the record is done
    ],
)
def test_a_rolled_back_or_finished_record_routes_nothing(
    store: Flaky, clock: Clock, spawn: Deferred, weight: int, phase: Phase, candidate: str
) -> None:
    canary(store, weight=weight, phase=phase, candidate=candidate)
    prompts = client(store, clock, spawn)
    assert on_candidate(prompts, KEYS[:1000]) == set()
    assert prompts.get("greet").id == STABLE.id  # and no draw (rng=no_draw)


def test_a_paused_rollout_keeps_its_weight(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    canary(store, weight=30)
    progressing = on_candidate(client(store, clock, spawn), KEYS)
    canary(store, weight=30, phase=Phase.PAUSED)
    assert on_candidate(client(store, clock, spawn), KEYS) == progressing


def test_a_weight_change_is_seen_after_the_ttl_not_before(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    canary(store, weight=10)
    prompts = client(store, clock, spawn)
    at_10 = on_candidate(prompts, KEYS)
    canary(store, weight=50)
    clock.now += 59
    assert on_candidate(prompts, KEYS) == at_10 and not spawn.pending
    clock.now += 2  # past the TTL: the cached weight is served while one refresh runs
    assert on_candidate(prompts, KEYS) == at_10
    assert len(spawn.pending) == 1
    spawn.run_all()
    assert prompts.routing("greet").weight == 50
    assert abs(len(on_candidate(prompts, KEYS)) / len(KEYS) - 0.50) <= 0.02


def test_a_refresh_reuses_the_versions_it_holds(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    canary(store, weight=10)
    prompts = client(store, clock, spawn)
    prompts.get("greet", routing_key="ada")
    assert store.version_reads == 2  # the stable and the candidate
    canary(store, weight=50)
    clock.now += 1000  # past the stale window: fetched now
    assert prompts.routing("greet").weight == 50
    assert store.version_reads == 2  # versions are immutable: not read again


def test_when_the_store_is_down_the_cached_routing_is_kept(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    canary(store, weight=20)
    prompts = client(store, clock, spawn)
    before = {key: prompts.get("greet", routing_key=key).id for key in KEYS[:2000]}
    store.down = True
    clock.now += 10_000
    after = {key: prompts.get("greet", routing_key=key).id for key in KEYS[:2000]}
    assert after == before and CANDIDATE.id in after.values()
    clock.now += 61
    prompts.get("greet", routing_key="ada")
    spawn.run_all()  # the background refresh fails quietly
    assert prompts.routing("greet").weight == 20 and prompts.origin("greet") == "store"


def test_the_snapshot_fallback_has_no_rollouts_and_serves_the_stable(
    store: Flaky, clock: Clock, spawn: Deferred, tmp_path: Path
) -> None:
    canary(store, weight=50)
    snapshot_of(store.inner, ["production"]).save(tmp_path / "snap.json")
    store.down = True
    prompts = client(store, clock, spawn, snapshot=Snapshot.load(tmp_path / "snap.json"))
    assert {prompts.get("greet", routing_key=key).id for key in KEYS[:1000]} == {STABLE.id}
    assert prompts.origin("greet") == "snapshot"


def test_render_renders_the_version_chosen_for_the_key(store: Flaky, clock: Clock, spawn: Deferred) -> None:
    canary(store, weight=50)
    prompts = client(store, clock, spawn)
    texts = {"Hello Ada!": STABLE.id, "Hi Ada.": CANDIDATE.id}
    for key in KEYS[:200]:
        rendered = prompts.render("greet", {"customer": "Ada"}, routing_key=key)
        assert rendered.version == prompts.get("greet", routing_key=key).id == texts[rendered.text]
    assert prompts.render_version(CANDIDATE, {"customer": "Bo"}).text == "Hi Bo."


def test_moving_the_label_back_after_a_canary_serves_the_moved_to_version(
    store: Flaky, clock: Clock, spawn: Deferred
) -> None:
    canary(store, weight=100)
    prompts = client(store, clock, spawn)
    assert on_candidate(prompts, KEYS[:500]) == set(KEYS[:500])  # 100%: every key on the candidate
    move_label(store.inner, "greet", "production", CANDIDATE.id, WHO)  # the record's stable is stale now
    clock.now += 1000
    assert {prompts.get("greet", routing_key=key).id for key in KEYS[:500]} == {CANDIDATE.id}
    assert prompts.routing("greet").candidate is None
