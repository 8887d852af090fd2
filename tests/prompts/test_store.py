"""Publishing, relabelling and fetching prompts through both stores: Cloud Storage through the real
google.cloud.storage client against the storage emulator (generation preconditions), and a local
directory. Racing publishers never lose a version."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from google.cloud import storage

from controller.errors import NotFoundError, PermanentError, UserError
from controller.prompts.store import PromptStore, Published, active, index_path, move_label, publish, rollback
from controller.prompts.version import PromptVersion, Provenance
from controller.providers.prompt_store import GcsPromptStore, LocalPromptStore, open_store

WHO = Provenance(created="2025-01-01T00:00:00+00:00", commit="abc123", author="ada@example.com")


def version(template: str = "Hello {{ customer }}!", name: str = "greet", **fields: object) -> PromptVersion:
    return PromptVersion(
        name=name,
        template=template,
        model="gemini-flash",
        generation_config=fields.pop("generation_config", {"temperature": 0.2}),  # type: ignore[arg-type]
        variables={"customer": {"type": "string"}},
        provenance=WHO,
        **fields,  # type: ignore[arg-type]
    )


def test_publish_stores_the_version_lists_it_and_moves_labels(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    v1 = version()
    done = publish(store, v1, ["staging", "production"])
    assert done.created
    assert done.moved == {"staging": None, "production": None}
    assert active(store, "greet", "production") == v1
    index = store.read_index("greet")
    assert index is not None
    assert [(e.version, e.commit, e.author) for e in index.versions] == [(v1.id, "abc123", "ada@example.com")]
    assert store.list_prompts() == ["greet"]


def test_republishing_the_same_content_changes_nothing(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    publish(store, version(), ["production"])
    again = publish(store, replace(version(), provenance=Provenance(created="later", author="bo")), ["production"])
    assert not again.created
    assert again.moved == {}
    index = store.read_index("greet")
    assert index is not None and len(index.versions) == 1 and index.versions[0].author == "ada@example.com"


def test_a_new_version_can_go_to_staging_while_production_stays(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    v1, v2 = version(), version("Hi {{ customer }}.")
    publish(store, v1, ["staging", "production"])
    done = publish(store, v2, ["staging"])
    assert done.moved == {"staging": v1.id}
    assert active(store, "greet", "staging").id == v2.id
    assert active(store, "greet", "production").id == v1.id


def test_relabel_and_rollback_move_labels_between_published_versions(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    v1, v2 = version(), version("Hi {{ customer }}.")
    publish(store, v1, ["production"])
    publish(store, v2, [])
    move_label(store, "greet", "production", v2.id[:6], WHO)
    assert active(store, "greet", "production").id == v2.id
    index = rollback(store, "greet", "production", WHO)
    assert index.labels["production"] == v1.id
    assert active(store, "greet", "production").id == v1.id
    assert [(m.label, m.previous, m.version) for m in index.history] == [
        ("production", None, v1.id),
        ("production", v1.id, v2.id),
        ("production", v2.id, v1.id),
    ]
    with pytest.raises(UserError, match="no version"):
        move_label(store, "greet", "production", "ffffffff", WHO)


def test_fetching_unknown_prompts_and_labels_is_not_found(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    with pytest.raises(NotFoundError, match="never published"):
        active(store, "greet", "production")
    publish(store, version(), ["staging"])
    with pytest.raises(NotFoundError, match=r"no label 'production'.*labels: staging"):
        active(store, "greet", "production")


def race(count: int, job: Callable[[int], Published]) -> list[Published]:
    barrier = threading.Barrier(count)

    def run(i: int) -> Published:
        barrier.wait()
        return job(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_racing_publishers_of_different_versions_never_lose_one(new_store: Callable[[], PromptStore]) -> None:
    versions = [version(f"Version {i}: {{{{ customer }}}}") for i in range(8)]
    results = race(8, lambda i: publish(new_store(), versions[i], ["production"]))  # a store (client) each
    assert all(r.created for r in results)
    store = new_store()
    index = store.read_index("greet")
    assert index is not None
    assert sorted(e.version for e in index.versions) == sorted(v.id for v in versions)
    for v in versions:
        assert store.read_version("greet", v.id) == v
    assert index.labels["production"] in {v.id for v in versions}
    assert len([m for m in index.history if m.label == "production"]) == 8  # every move recorded


def test_racing_publishers_of_the_same_version_create_it_once(new_store: Callable[[], PromptStore]) -> None:
    results = race(6, lambda _: publish(new_store(), version(), ["production"]))
    assert sum(r.created for r in results) == 1
    index = new_store().read_index("greet")
    assert index is not None and len(index.versions) == 1 and len(index.history) == 1


def test_gcs_objects_follow_the_documented_layout(new_client: Callable[[], storage.Client], bucket: str) -> None:
    store = open_store(f"gs://{bucket}/team/prompts", client=new_client())
    assert isinstance(store, GcsPromptStore) and store.location == f"gs://{bucket}/team/prompts"
    v1 = version()
    publish(store, v1, ["production"])
    names = sorted(b.name for b in new_client().list_blobs(bucket))
    assert names == ["team/prompts/prompts/greet/index.json", f"team/prompts/prompts/greet/versions/{v1.id}.json"]
    blob = new_client().bucket(bucket).get_blob(f"team/prompts/prompts/greet/versions/{v1.id}.json")
    assert blob is not None and blob.content_type == "application/json"
    document = json.loads(blob.download_as_bytes())
    assert document["version"] == v1.id and document["template"] == v1.template and document["commit"] == "abc123"


def test_a_stored_version_is_never_overwritten(new_client: Callable[[], storage.Client], bucket: str) -> None:
    store = GcsPromptStore(new_client(), bucket)
    v1 = version()
    publish(store, v1, [])
    tampered = json.dumps({**v1.to_json(), "template": "tampered"})
    new_client().bucket(bucket).blob(f"prompts/greet/versions/{v1.id}.json").upload_from_string(tampered)
    with pytest.raises(PermanentError, match="content does not match its id"):
        store.read_version("greet", v1.id)


def test_a_corrupt_index_is_a_permanent_error(new_store: Callable[[], PromptStore]) -> None:
    store = new_store()
    publish(store, version(), [])
    if isinstance(store, LocalPromptStore):
        (store.root / index_path("greet")).write_text("{not json")
    else:
        assert isinstance(store, GcsPromptStore)
        store._bucket.blob(store._key(index_path("greet"))).upload_from_string("{not json")
    with pytest.raises(PermanentError, match="not a valid prompt index"):
        store.read_index("greet")


def test_open_store_reads_urls_and_directories(tmp_path: object) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalPromptStore)
    with pytest.raises(UserError, match="needs a bucket"):
        open_store("gs://")
    with pytest.raises(UserError, match="unsupported prompt store"):
        open_store("s3://bucket/x")


def test_a_publisher_that_loses_the_compare_and_swap_rereads_and_keeps_both(
    new_client: Callable[[], storage.Client], bucket: str
) -> None:
    """Deterministic interleaving: B publishes between A's read of the index and A's conditional write."""
    a, b = GcsPromptStore(new_client(), bucket), GcsPromptStore(new_client(), bucket)
    va, vb = version("A {{ customer }}"), version("B {{ customer }}")
    seen: list[int] = []
    real_update = a.update_index

    def update_index_with_interference(name: str, change: Callable[..., object]) -> object:
        def interfering(index: object) -> object:
            seen.append(len(index.versions) if index is not None else 0)  # type: ignore[attr-defined]
            if len(seen) == 1:
                publish(b, vb, ["production"])  # lands after A's read: A's write must fail with 412
            return change(index)

        return real_update(name, interfering)  # type: ignore[arg-type]

    a.update_index = update_index_with_interference  # type: ignore[method-assign,assignment]
    publish(a, va, ["production"])
    assert seen == [0, 1]  # A's first attempt saw no index; its retry saw B's version
    index = a.read_index("greet")
    assert index is not None
    assert [e.version for e in index.versions] == [vb.id, va.id]
    assert index.labels["production"] == va.id
