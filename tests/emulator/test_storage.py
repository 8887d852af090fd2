"""Conformance of the Cloud Storage emulator, driven only through the real google.cloud.storage client."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from controller.emulator.api import ApiError
from controller.emulator.storage import StorageEmulator

PROJECT = "genaiops-test"
FAST_RETRY = DEFAULT_RETRY.with_delay(initial=0.01, multiplier=1.0, maximum=0.01).with_timeout(5.0)


class FailNext:
    """A fault-injection hook: fails the next `count` calls of `method` with `code`; records every call."""

    def __init__(self, method: str = "", count: int = 0, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.method = method
        self.count = count
        self.code = code
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def after_call(self, full_name: str) -> None:
        return

    def before_call(self, full_name: str) -> None:
        with self._lock:
            self.calls.append(full_name)
            if full_name == self.method and self.count > 0:
                self.count -= 1
                raise ApiError(self.code, "injected fault")


@pytest.fixture
def hook() -> FailNext:
    return FailNext()


@pytest.fixture
def emulator(hook: FailNext) -> Iterator[StorageEmulator]:
    emu = StorageEmulator(hook=hook)
    emu.start()
    yield emu
    emu.stop()


def make_client(emu: StorageEmulator, monkeypatch: pytest.MonkeyPatch) -> storage.Client:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emu.url)
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


@pytest.fixture
def client(emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch) -> storage.Client:
    return make_client(emulator, monkeypatch)


@pytest.fixture
def bucket(client: storage.Client) -> storage.Bucket:
    return client.create_bucket("genaiops-state")


def test_a_created_bucket_can_be_fetched_listed_and_not_created_twice(client: storage.Client) -> None:
    client.create_bucket("alpha-bucket")
    client.create_bucket("beta-bucket", location="europe-west4")

    fetched = client.get_bucket("alpha-bucket")

    assert fetched.name == "alpha-bucket"
    assert fetched.metageneration == 1
    assert (fetched.location, client.get_bucket("beta-bucket").location) == ("US", "EUROPE-WEST4")
    assert [b.name for b in client.list_buckets()] == ["alpha-bucket", "beta-bucket"]
    assert [b.name for b in client.list_buckets(prefix="b")] == ["beta-bucket"]
    with pytest.raises(exceptions.Conflict):
        client.create_bucket("alpha-bucket")
    with pytest.raises(exceptions.NotFound):
        client.get_bucket("no-such-bucket")
    with pytest.raises(exceptions.BadRequest):
        client.create_bucket("Not A Valid Name")


def test_a_bucket_with_objects_cannot_be_deleted_until_forced(bucket: storage.Bucket) -> None:
    bucket.blob("x").upload_from_string(b"1")

    with pytest.raises(exceptions.Conflict):
        bucket.delete()
    bucket.delete(force=True)

    assert not bucket.exists()


def test_bytes_round_trip_with_content_type_and_metadata(bucket: storage.Bucket) -> None:
    blob = bucket.blob("models/a b+c.json")
    blob.metadata = {"owner": "team-a"}
    blob.upload_from_string(b'{"k": 1}', content_type="application/json")

    fresh = bucket.get_blob("models/a b+c.json")

    assert fresh is not None
    assert fresh.download_as_bytes() == b'{"k": 1}'
    assert fresh.content_type == "application/json"
    assert fresh.metadata == {"owner": "team-a"}
    assert fresh.size == 8
    assert fresh.md5_hash == blob.md5_hash
    assert fresh.crc32c == blob.crc32c
    assert fresh.generation == blob.generation
    assert fresh.metageneration == 1
    assert fresh.time_created is not None and fresh.updated is not None


def test_text_round_trips_with_its_charset(bucket: storage.Bucket) -> None:
    blob = bucket.blob("notes.txt")
    blob.upload_from_string("héllo wörld\n", content_type="text/plain; charset=utf-8")

    assert bucket.blob("notes.txt").download_as_text() == "héllo wörld\n"


def test_binary_data_containing_line_breaks_and_dashes_survives_multipart_upload(
    bucket: storage.Bucket,
) -> None:
    data = bytes(range(256)) * 4 + b"\r\n--\r\n\r\n" + os.urandom(4096) + b"\r\n"
    bucket.blob("blob.bin").upload_from_string(data)

    assert bucket.blob("blob.bin").download_as_bytes() == data
    bucket.blob("empty").upload_from_string(b"")
    assert bucket.blob("empty").download_as_bytes() == b""


def test_a_stream_of_unknown_size_is_uploaded_in_resumable_chunks(bucket: storage.Bucket) -> None:
    data = os.urandom(600_000)
    blob = bucket.blob("big.bin", chunk_size=256 * 1024)

    blob.upload_from_file(io.BytesIO(data), if_generation_match=0)

    assert blob.size == len(data)
    assert bucket.blob("big.bin").download_as_bytes() == data
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("big.bin", chunk_size=256 * 1024).upload_from_file(io.BytesIO(data), if_generation_match=0)


def test_a_simple_media_upload_creates_the_object(client: storage.Client, bucket: storage.Bucket) -> None:
    url = f"{client._connection.API_BASE_URL}/upload/storage/v1/b/{bucket.name}/o"
    response = client._http.post(
        url, params={"uploadType": "media", "name": "raw.txt"}, data=b"raw", headers={"Content-Type": "text/x"}
    )

    assert response.status_code == 200
    blob = bucket.get_blob("raw.txt")
    assert blob is not None and blob.content_type == "text/x"
    assert blob.download_as_bytes() == b"raw"


def test_a_byte_range_can_be_downloaded(bucket: storage.Bucket) -> None:
    bucket.blob("digits").upload_from_string(b"0123456789")

    assert bucket.blob("digits").download_as_bytes(start=2, end=5) == b"2345"
    assert bucket.blob("digits").download_as_bytes(start=7) == b"789"


def test_listing_filters_by_prefix_folds_by_delimiter_and_pages(client: storage.Client, bucket: storage.Bucket) -> None:
    for name in ["a/1", "a/2", "a/sub/3", "b/1", "top"]:
        bucket.blob(name).upload_from_string(name)

    assert [b.name for b in client.list_blobs(bucket, prefix="a/")] == ["a/1", "a/2", "a/sub/3"]
    folded = client.list_blobs(bucket, delimiter="/")
    assert [b.name for b in folded] == ["top"]
    assert folded.prefixes == {"a/", "b/"}
    nested = client.list_blobs(bucket, prefix="a/", delimiter="/")
    assert [b.name for b in nested] == ["a/1", "a/2"]
    assert nested.prefixes == {"a/sub/"}
    pages = client.list_blobs(bucket, page_size=2).pages
    assert [[b.name for b in page] for page in pages] == [["a/1", "a/2"], ["a/sub/3", "b/1"], ["top"]]
    assert [b.name for b in client.list_blobs(bucket, max_results=3)] == ["a/1", "a/2", "a/sub/3"]
    folded_pages = client.list_blobs(bucket, delimiter="/", page_size=1)
    assert [b.name for b in folded_pages] == ["top"]
    assert folded_pages.prefixes == {"a/", "b/"}


def test_listing_honours_offsets_and_match_glob(client: storage.Client, bucket: storage.Bucket) -> None:
    for name in ["a/1.txt", "a/2.bin", "a/sub/3.txt", "b/1.txt"]:
        bucket.blob(name).upload_from_string(name)

    assert [b.name for b in client.list_blobs(bucket, match_glob="a/*.txt")] == ["a/1.txt"]
    assert [b.name for b in client.list_blobs(bucket, match_glob="**/*.txt")] == ["a/1.txt", "a/sub/3.txt", "b/1.txt"]
    assert [b.name for b in client.list_blobs(bucket, start_offset="a/2", end_offset="b/")] == [
        "a/2.bin",
        "a/sub/3.txt",
    ]


def test_a_deleted_object_is_gone(bucket: storage.Bucket) -> None:
    blob = bucket.blob("doomed")
    blob.upload_from_string(b"x")

    blob.delete()

    assert bucket.get_blob("doomed") is None
    with pytest.raises(exceptions.NotFound):
        blob.delete()
    with pytest.raises(exceptions.NotFound):
        bucket.blob("doomed").download_as_bytes()


def test_create_if_absent_fails_the_second_time(bucket: storage.Bucket) -> None:
    bucket.blob("lease").upload_from_string(b"owner-1", if_generation_match=0)

    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("lease").upload_from_string(b"owner-2", if_generation_match=0)
    assert bucket.blob("lease").download_as_bytes() == b"owner-1"


def test_compare_and_swap_succeeds_with_the_current_generation_and_fails_with_a_stale_one(
    bucket: storage.Bucket,
) -> None:
    first = bucket.blob("state")
    first.upload_from_string(b"v1", if_generation_match=0)
    stale = first.generation
    assert stale is not None

    second = bucket.blob("state")
    second.upload_from_string(b"v2", if_generation_match=stale)

    assert second.generation is not None and second.generation > stale
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("state").upload_from_string(b"v3", if_generation_match=stale)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("missing").upload_from_string(b"v1", if_generation_match=stale)
    assert bucket.blob("state").download_as_bytes() == b"v2"


def test_a_conditional_delete_with_a_stale_generation_fails(bucket: storage.Bucket) -> None:
    blob = bucket.blob("lease")
    blob.upload_from_string(b"v1")
    stale = blob.generation
    blob.upload_from_string(b"v2")

    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("lease").delete(if_generation_match=stale)
    assert bucket.blob("lease").exists()
    bucket.blob("lease").delete(if_generation_match=blob.generation)
    assert not bucket.blob("lease").exists()


def test_eight_threads_creating_one_object_if_absent_yield_exactly_one_winner(
    client: storage.Client, bucket: storage.Bucket
) -> None:
    contenders = 8
    barrier = threading.Barrier(contenders)
    outcomes: list[str] = []
    lock = threading.Lock()

    def contend(index: int) -> None:
        blob = client.bucket(bucket.name).blob("leader")
        barrier.wait()
        try:
            blob.upload_from_string(f"node-{index}", if_generation_match=0)
            result = f"won:node-{index}"
        except exceptions.PreconditionFailed:
            result = "lost"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winners = [o for o in outcomes if o.startswith("won:")]
    assert len(outcomes) == contenders
    assert len(winners) == 1
    assert bucket.blob("leader").download_as_text() == winners[0].removeprefix("won:")


def test_reload_and_download_expose_the_generation(bucket: storage.Bucket) -> None:
    written = bucket.blob("g")
    written.upload_from_string(b"x")

    reloaded = bucket.blob("g")
    reloaded.reload()
    downloaded = bucket.blob("g")
    downloaded.download_as_bytes()

    assert reloaded.generation == written.generation
    assert downloaded.generation == written.generation
    assert downloaded.metageneration == 1


def test_an_overwritten_generation_can_no_longer_be_read(bucket: storage.Bucket) -> None:
    blob = bucket.blob("v")
    blob.upload_from_string(b"old")
    old = blob.generation
    blob.upload_from_string(b"new")

    with pytest.raises(exceptions.NotFound):
        bucket.blob("v", generation=old).download_as_bytes()
    assert bucket.blob("v", generation=blob.generation).download_as_bytes() == b"new"


def test_read_preconditions_fail_with_412_or_not_modified(bucket: storage.Bucket) -> None:
    blob = bucket.blob("r")
    blob.upload_from_string(b"x")
    generation = blob.generation
    assert generation is not None

    assert bucket.blob("r").download_as_bytes(if_generation_match=generation) == b"x"
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("r").download_as_bytes(if_generation_match=generation + 1)
    with pytest.raises(exceptions.NotModified):
        bucket.blob("r").reload(if_generation_not_match=generation)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("r").reload(if_metageneration_match=2)


def test_a_metadata_patch_bumps_the_metageneration_and_honours_its_preconditions(bucket: storage.Bucket) -> None:
    blob = bucket.blob("m")
    blob.metadata = {"a": "1", "b": "2"}
    blob.upload_from_string(b"x")
    generation = blob.generation

    blob.metadata = {"a": "10", "b": None}
    blob.patch(if_metageneration_match=1)

    assert blob.metageneration == 2
    assert blob.generation == generation
    assert bucket.get_blob("m").metadata == {"a": "10"}
    blob.metadata = {"c": "3"}
    with pytest.raises(exceptions.PreconditionFailed):
        blob.patch(if_metageneration_match=1)

    replaced = bucket.get_blob("m")
    replaced.metadata = None
    replaced.cache_control = "no-store"
    replaced.update(if_metageneration_match=2)
    assert (replaced.metageneration, replaced.metadata, replaced.cache_control) == (3, None, "no-store")


def test_state_persists_across_two_emulators_on_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "storage.json"
    first = StorageEmulator(persist_path=state)
    first.start()
    try:
        written = make_client(first, monkeypatch).create_bucket("durable").blob("k")
        written.metadata = {"x": "y"}
        written.upload_from_string(b"\x00\x01persisted", content_type="application/x-test")
    finally:
        first.stop()

    second = StorageEmulator(persist_path=state)
    second.start()
    try:
        blob = make_client(second, monkeypatch).bucket("durable").get_blob("k")
        assert blob is not None
        assert blob.download_as_bytes() == b"\x00\x01persisted"
        assert (blob.generation, blob.content_type, blob.metadata) == (
            written.generation,
            "application/x-test",
            {"x": "y"},
        )
        later = make_client(second, monkeypatch).bucket("durable").blob("k2")
        later.upload_from_string(b"2")
        assert later.generation is not None and written.generation is not None
        assert later.generation > written.generation
    finally:
        second.stop()


def test_injected_unavailable_reaches_the_client_as_service_unavailable(hook: FailNext, bucket: storage.Bucket) -> None:
    hook.method, hook.count = "storage.objects.insert", 1

    with pytest.raises(exceptions.ServiceUnavailable):
        bucket.blob("f").upload_from_string(b"x", if_generation_match=0, retry=None)
    assert not bucket.blob("f").exists()


def test_injected_faults_map_to_their_http_errors(hook: FailNext, bucket: storage.Bucket) -> None:
    bucket.blob("f").upload_from_string(b"x")
    hook.method, hook.count, hook.code = "storage.objects.get", 1, grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(exceptions.TooManyRequests):
        bucket.blob("f").download_as_bytes(retry=None)
    hook.count, hook.code = 1, grpc.StatusCode.INTERNAL
    with pytest.raises(exceptions.InternalServerError):
        bucket.blob("f").reload(retry=None)


def test_a_transient_fault_is_retried_by_the_client_and_the_write_lands_once(
    hook: FailNext, bucket: storage.Bucket
) -> None:
    hook.method, hook.count = "storage.objects.insert", 2

    blob = bucket.blob("retried")
    blob.upload_from_string(b"x", if_generation_match=0, retry=FAST_RETRY)

    assert hook.count == 0
    assert bucket.blob("retried").download_as_bytes() == b"x"
    assert hook.calls.count("storage.objects.insert") == 3


def test_calls_over_a_kept_alive_connection_do_not_stall(bucket: storage.Bucket) -> None:
    bucket.blob("hot").upload_from_string(b"x")
    calls = 30

    started = time.perf_counter()
    for _ in range(calls):
        bucket.get_blob("hot")
    elapsed = time.perf_counter() - started

    # Without TCP_NODELAY each call waits ~40 ms for a delayed ACK; with it a call takes ~2 ms.
    assert elapsed / calls < 0.02


def test_the_hook_sees_json_api_method_ids(hook: FailNext, client: storage.Client) -> None:
    bucket = client.create_bucket("ids")
    bucket.blob("o").upload_from_string(b"x")
    bucket.blob("o").download_as_bytes()
    list(client.list_blobs(bucket))
    bucket.blob("o").delete()

    assert hook.calls == [
        "storage.buckets.insert",
        "storage.objects.insert",
        "storage.objects.get",
        "storage.objects.list",
        "storage.objects.delete",
    ]
