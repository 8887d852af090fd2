"""Composition for applications: open the runtime client's feedback store and metrics recorder on the real
backends (Firestore or a local SQLite file; Cloud Monitoring or a running genaiops emulator). The runtime
package holds the pure parts and the protocols; these factories, like every Google-touching piece, live in
providers, so the runtime never imports providers."""

from __future__ import annotations

from pathlib import Path

from controller.providers.firestore_feedback import FirestoreFeedbackStore
from controller.providers.metric_writer import CloudMonitoringWriter
from controller.providers.sqlite_feedback import SqliteFeedbackStore
from controller.runtime.feedback import DEFAULT_COLLECTION, DEFAULT_SQLITE_PATH
from controller.runtime.recorder import DEFAULT_INTERVAL_S, MIN_SPACING_S, BatchingRecorder
from controller.runtime.records import FeedbackStore


def open_feedback_store(
    *, project: str | None = None, path: Path | None = None, collection: str = DEFAULT_COLLECTION
) -> FeedbackStore:
    """Firestore (collection `collection` in `project`'s default database; honours
    FIRESTORE_EMULATOR_HOST) when a project is given and no `path`; otherwise the SQLite file at `path`
    (default `.genaiops/feedback.sqlite`)."""
    if project and path is None:
        return FirestoreFeedbackStore(project=project, collection=collection)
    return SqliteFeedbackStore(path or DEFAULT_SQLITE_PATH)


def cloud_monitoring_recorder(
    *,
    project: str,
    emulator: str | None = None,
    location: str = "global",
    job: str = "genaiops-runtime",
    interval_s: float = DEFAULT_INTERVAL_S,
    min_spacing_s: float = MIN_SPACING_S,
    background: bool = True,
) -> BatchingRecorder:
    """A recorder writing to Cloud Monitoring in `project` (Application Default Credentials), or to a
    running genaiops emulator at `emulator` (HOST:PORT, plaintext gRPC). `location` and `job` name the
    `generic_task` monitored resource; each process writes its own series (task_id), so replicas never
    collide on a CUMULATIVE series."""
    writer = CloudMonitoringWriter(project=project, emulator=emulator, location=location, job=job)
    return BatchingRecorder(writer, interval_s=interval_s, min_spacing_s=min_spacing_s, background=background)


__all__ = ["cloud_monitoring_recorder", "open_feedback_store"]
