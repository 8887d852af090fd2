"""Apply locks: the Cloud Storage lease (`GcsLease`) against the storage emulator through the real
google.cloud.storage client, and the local `FileLock` across threads and processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from controller.emulator.api import ApiError
from controller.emulator.storage import StorageEmulator
from controller.errors import LockedError, PermanentError, UserError
from controller.providers.lock_record import LockRecord
from controller.providers.locks import AdministeredLock, FileLock, GcsLease, holding

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "genaiops-locks"
LEASE = "locks/us-central1.json"


class Calls:
    """Storage hook: records calls, can fail the next few inserts with UNAVAILABLE."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.fail_inserts = 0
        self._lock = threading.Lock()

    def after_call(self, full_name: str) -> None:
        return

    def before_call(self, full_name: str) -> None:
        with self._lock:
            self.names.append(full_name)
            if full_name == "storage.objects.insert" and self.fail_inserts > 0:
                self.fail_inserts -= 1
                raise ApiError(grpc.StatusCode.UNAVAILABLE, "injected fault")

    def count(self, full_name: str) -> int:
        with self._lock:
            return self.names.count(full_name)


class FakeClock:
    """Wall time under test control."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def new_client(calls: Calls, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], storage.Client]]:
    emulator = StorageEmulator(hook=calls)
    emulator.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)

    def make() -> storage.Client:
        return storage.Client(project="local-project", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]

    make().create_bucket(BUCKET)
    yield make
    emulator.stop()


@pytest.fixture
def new_lease(new_client: Callable[[], storage.Client]) -> Iterator[Callable[..., GcsLease]]:
    """Leases on one object, each with its own client (as separate processes would have)."""
    made: list[GcsLease] = []

    def make(**options: object) -> GcsLease:
        lease = GcsLease(new_client(), BUCKET, LEASE, **options)  # type: ignore[arg-type]
        made.append(lease)
        return lease

    yield make
    for lease in made:  # stop renewal threads
        if lease.lock_id is not None:
            lease.release(lease.lock_id)


def race(leases: list[GcsLease], owner_prefix: str) -> tuple[list[str], list[LockedError]]:
    barrier = threading.Barrier(len(leases))

    def contend(index: int) -> str | LockedError:
        barrier.wait()
        try:
            return leases[index].acquire(owner=f"{owner_prefix}-{index}", wait_s=0)
        except LockedError as err:
            return err

    with ThreadPoolExecutor(len(leases)) as pool:
        outcomes = list(pool.map(contend, range(len(leases))))
    return [o for o in outcomes if isinstance(o, str)], [o for o in outcomes if isinstance(o, LockedError)]


# -- GcsLease --------------------------------------------------------------------------------------------


def test_only_one_of_eight_racing_acquirers_wins_and_the_rest_are_told_who_holds_it(
    new_lease: Callable[..., GcsLease],
) -> None:
    leases = [new_lease() for _ in range(8)]

    winners, refused = race(leases, "racer")

    assert len(winners) == 1 and len(refused) == 7
    holder = leases[0].holder()
    assert holder is not None and holder["lock_id"] == winners[0] and not holder["expired"]
    assert {err.lock_id for err in refused} == {winners[0]}
    assert {err.holder for err in refused} == {holder["owner"]}
    message = str(refused[0])
    assert holder["owner"] in message and winners[0] in message and "since" in message
    assert f"genaiops force-unlock {winners[0]}" in message


def test_the_lease_object_holds_a_json_record_of_the_holder(
    new_lease: Callable[..., GcsLease], new_client: Callable[[], storage.Client]
) -> None:
    clock = FakeClock()
    lease = new_lease(ttl_s=60, clock=clock, target="projects/p/locations/us-central1")

    lock_id = lease.acquire(owner="alice@laptop pid 7", wait_s=0)

    record = LockRecord.from_json(new_client().bucket(BUCKET).blob(LEASE).download_as_bytes())
    assert (record.lock_id, record.owner) == (lock_id, "alice@laptop pid 7")
    assert (record.acquired_at, record.expires_at) == (clock.now, clock.now + 60)
    assert record.target == "projects/p/locations/us-central1"
    assert record.pid == os.getpid()


def test_a_second_acquirer_waits_and_gets_the_lease_after_release(
    new_lease: Callable[..., GcsLease], calls: Calls
) -> None:
    first, second = new_lease(), new_lease()
    first_id = first.acquire(owner="first", wait_s=0)
    reads_before = calls.count("storage.objects.get")

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(second.acquire, owner="second", wait_s=10)
        wait_until(lambda: calls.count("storage.objects.get") > reads_before)  # it found the lease held
        assert not waiting.done()
        first.release(first_id)
        second_id = waiting.result(timeout=10)

    holder = second.holder()
    assert holder is not None and (holder["lock_id"], holder["owner"]) == (second_id, "second")
    assert second_id != first_id


def test_a_waiting_acquirer_gives_up_after_its_wait(new_lease: Callable[..., GcsLease]) -> None:
    holder, waiter = new_lease(), new_lease()
    lock_id = holder.acquire(owner="holder", wait_s=0)
    started = time.monotonic()

    with pytest.raises(LockedError) as refused:
        waiter.acquire(owner="waiter", wait_s=0.3)

    assert 0.3 <= time.monotonic() - started < 3
    assert (refused.value.holder, refused.value.lock_id) == ("holder", lock_id)


def test_an_expired_lease_is_taken_over_by_exactly_one_of_four_racers(
    new_lease: Callable[..., GcsLease], new_client: Callable[[], storage.Client]
) -> None:
    clock = FakeClock()
    crashed = LockRecord("crashed-id", "crashed@host pid 1", clock.now - 300, clock.now - 180, "t", "host", 1)
    new_client().bucket(BUCKET).blob(LEASE).upload_from_string(crashed.to_json(), if_generation_match=0)
    leases = [new_lease(ttl_s=120, clock=clock) for _ in range(4)]

    winners, refused = race(leases, "taker")

    assert len(winners) == 1 and len(refused) == 3
    assert {err.lock_id for err in refused} == {winners[0]}
    holder = leases[0].holder()
    assert holder is not None and holder["lock_id"] == winners[0] and holder["expires_at"] == clock.now + 120


def test_a_live_lease_is_not_taken_over_even_close_to_expiry(new_lease: Callable[..., GcsLease]) -> None:
    clock = FakeClock()
    holder, other = new_lease(ttl_s=10, renew_every_s=9, clock=clock), new_lease(ttl_s=10, clock=clock)
    lock_id = holder.acquire(owner="holder", wait_s=0)
    clock.advance(9.9)

    with pytest.raises(LockedError):
        other.acquire(owner="other", wait_s=0)

    clock.advance(0.1)
    assert other.acquire(owner="other", wait_s=0) != lock_id


def test_renewal_keeps_a_short_lease_alive_across_several_ttls(new_lease: Callable[..., GcsLease]) -> None:
    clock = FakeClock()
    lease = new_lease(ttl_s=1, renew_every_s=0.01, clock=clock)
    contender = new_lease(ttl_s=1, clock=clock)
    lock_id = lease.acquire(owner="long apply", wait_s=0)

    for _ in range(5):  # 5 x 0.8 s: four TTLs past the first expiry
        clock.advance(0.8)
        wait_until(lambda: (contender.holder() or {}).get("expires_at", 0) >= clock.now + 0.9)
        with pytest.raises(LockedError):
            contender.acquire(owner="contender", wait_s=0)

    assert not lease.lost
    assert (contender.holder() or {})["lock_id"] == lock_id


def test_a_lease_whose_renewal_finds_another_holder_reports_lost(new_lease: Callable[..., GcsLease]) -> None:
    clock = FakeClock()
    noticed = threading.Event()
    lease = new_lease(ttl_s=10, renew_every_s=0.01, clock=clock, on_lost=noticed.set)
    other = new_lease(ttl_s=10, clock=clock)
    lock_id = lease.acquire(owner="stuck apply", wait_s=0)

    other.force_unlock(lock_id)
    other_id = other.acquire(owner="new apply", wait_s=0)

    assert noticed.wait(5)
    assert lease.lost and not other.lost
    lease.release(lock_id)
    assert (other.holder() or {})["lock_id"] == other_id


def test_release_of_a_lease_taken_over_after_expiry_leaves_the_new_holder_alone(
    new_lease: Callable[..., GcsLease],
) -> None:
    clock = FakeClock()
    old = new_lease(ttl_s=10, renew_every_s=9, clock=clock)  # a holder paused past its TTL
    new = new_lease(ttl_s=10, clock=clock)
    old_id = old.acquire(owner="old", wait_s=0)
    clock.advance(11)
    new_id = new.acquire(owner="new", wait_s=0)

    old.release(old_id)

    assert (new.holder() or {})["lock_id"] == new_id
    new.release(new_id)
    assert new.holder() is None


def test_force_unlock_with_a_wrong_id_is_refused_and_with_the_right_one_frees_the_lock(
    new_lease: Callable[..., GcsLease],
) -> None:
    holder, admin = new_lease(renew_every_s=100), new_lease()
    lock_id = holder.acquire(owner="holder", wait_s=0)

    with pytest.raises(UserError, match=f"does not match the current holder's lock id {lock_id}"):
        admin.force_unlock("not-the-id")
    assert (admin.holder() or {})["lock_id"] == lock_id

    admin.force_unlock(lock_id)
    assert admin.holder() is None
    with pytest.raises(UserError, match="no lock"):
        admin.force_unlock(lock_id)


def test_an_acquire_survives_transient_storage_errors(new_lease: Callable[..., GcsLease], calls: Calls) -> None:
    calls.fail_inserts = 1
    lease = new_lease()

    lock_id = lease.acquire(owner="patient", wait_s=0)

    assert (lease.holder() or {})["lock_id"] == lock_id
    assert calls.count("storage.objects.insert") >= 2


def test_holding_releases_the_lease_when_the_block_fails(new_lease: Callable[..., GcsLease]) -> None:
    lease: AdministeredLock = new_lease()

    with pytest.raises(RuntimeError, match="apply failed"), holding(lease, owner="me") as lock_id:
        assert (lease.holder() or {})["lock_id"] == lock_id
        raise RuntimeError("apply failed")

    assert lease.holder() is None


def test_an_object_that_is_not_a_lease_is_reported_not_overwritten(
    new_lease: Callable[..., GcsLease], new_client: Callable[[], storage.Client]
) -> None:
    new_client().bucket(BUCKET).blob(LEASE).upload_from_string(b"not json")

    with pytest.raises(PermanentError, match="is not a genaiops lease"):
        new_lease().acquire(owner="me", wait_s=0)

    assert new_client().bucket(BUCKET).blob(LEASE).download_as_bytes() == b"not json"


def test_a_lease_needs_renewal_more_often_than_its_ttl(new_client: Callable[[], storage.Client]) -> None:
    with pytest.raises(ValueError, match="renew_every_s"):
        GcsLease(new_client(), BUCKET, LEASE, ttl_s=1, renew_every_s=1)


# -- FileLock --------------------------------------------------------------------------------------------


def test_two_file_locks_exclude_each_other_and_name_the_holder(tmp_path: Path) -> None:
    path = tmp_path / ".genaiops" / "local" / "apply.lock"
    first: AdministeredLock = FileLock(path)
    second = FileLock(path)
    first_id = first.acquire(owner="first", wait_s=0)

    with pytest.raises(LockedError, match="held by first") as refused:
        second.acquire(owner="second", wait_s=0)

    assert refused.value.lock_id == first_id
    assert (second.holder() or {})["owner"] == "first"
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(second.acquire, owner="second", wait_s=10)
        first.release(first_id)
        second_id = waiting.result(timeout=10)
    assert (first.holder() or {})["lock_id"] == second_id
    second.release(second_id)
    assert first.holder() is None and not path.with_suffix(".json").exists()


def test_a_file_lock_ignores_a_release_or_force_unlock_with_a_wrong_id(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "apply.lock")
    lock_id = lock.acquire(owner="me", wait_s=0)

    lock.release("not-the-id")
    with pytest.raises(UserError, match="does not match"):
        FileLock(tmp_path / "apply.lock").force_unlock("not-the-id")
    with pytest.raises(UserError, match="running process"):
        FileLock(tmp_path / "apply.lock").force_unlock(lock_id)

    assert (lock.holder() or {})["lock_id"] == lock_id
    with pytest.raises(LockedError):
        FileLock(tmp_path / "apply.lock").acquire(owner="other", wait_s=0)
    lock.release(lock_id)


CHILD = """
import sys
from pathlib import Path
from controller.providers.locks_file import FileLock
lock_id = FileLock(Path(sys.argv[1])).acquire(owner="child apply", wait_s=5)
print(lock_id, flush=True)
sys.stdin.read()
"""


def test_a_file_lock_held_by_another_process_blocks_until_that_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        child_id = child.stdout.readline().strip()
        lock = FileLock(path)

        with pytest.raises(LockedError, match="held by child apply") as refused:
            lock.acquire(owner="parent", wait_s=0.05)
        assert refused.value.lock_id == child_id
        assert (lock.holder() or {})["pid"] == child.pid

        child.send_signal(signal.SIGKILL)  # no clean-up: the kernel frees the flock
        child.wait(timeout=10)
        assert lock.holder() is None  # the side file is stale now
        FileLock(path).force_unlock(child_id)  # tidies the stale holder info
        lock_id = lock.acquire(owner="parent", wait_s=5)
        assert (lock.holder() or {})["owner"] == "parent"
        lock.release(lock_id)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
