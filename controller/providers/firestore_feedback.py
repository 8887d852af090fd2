"""The cloud feedback store: a `FeedbackStore` (controller/runtime/records.py) in Firestore, through the
official `google-cloud-firestore` client.

Place in the flow: `controller.providers.runtime_stores.open_feedback_store` picks it when a Google Cloud project
is set; the runtime's `FeedbackRecorder` adds documents and `genaiops feedback report` queries them. The
documents live in one collection (`genaiops-feedback` by default) of the project's database, one per
request id (a second rating of the same request replaces the first), and carry the request's prompt,
version, label and model, so feedback joins with metrics and prompt versions without another lookup:

    {request_id, rating, prompt, version, label, model, at (unix seconds), created (timestamp),
     text (redacted, or null), user_id (or null)}

Queries use single-field indexes only (Firestore creates those itself): by `prompt` equality, or by an
`at` range when no prompt is given; the other condition is applied here. The client honours
FIRESTORE_EMULATOR_HOST, which is how the tests run it against the gcloud Firestore emulator. Google
errors are translated into `controller.errors` errors.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore  # type: ignore[attr-defined,unused-ignore]
from google.cloud.firestore_v1.base_query import FieldFilter

from controller.providers.google_errors import translated
from controller.runtime.records import Feedback

__all__ = ["FirestoreFeedbackStore", "document_id"]

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")


def document_id(request_id: str) -> str:
    """The document id of a request's feedback: the request id when it is a safe Firestore id (letters,
    digits, `_`, `-`; not `__x__`), else its SHA-256 (ids cannot hold `/` and have reserved forms)."""
    if _SAFE_ID.fullmatch(request_id) and not (request_id.startswith("__") and request_id.endswith("__")):
        return request_id
    return "sha256-" + hashlib.sha256(request_id.encode()).hexdigest()


class FirestoreFeedbackStore:
    """Feedback documents in one Firestore collection of `project`."""

    def __init__(
        self,
        *,
        project: str,
        collection: str = "genaiops-feedback",
        database: str | None = None,
        client: Any = None,
        timeout_s: float = 10.0,
    ) -> None:
        """`client` is a `firestore.Client` (default: one for `project` and `database`, Application Default
        Credentials, or the emulator named by FIRESTORE_EMULATOR_HOST)."""
        self.project = project
        self.collection_name = collection
        self.timeout_s = timeout_s
        if client is None:
            client = firestore.Client(project=project, database=database) if database else firestore.Client(project)
        self._client = client
        self._collection = client.collection(collection)

    def add(self, feedback: Feedback) -> None:
        """Store one rating (replacing an earlier rating of the same request)."""
        document = {
            "request_id": feedback.request_id,
            "rating": feedback.rating,
            "prompt": feedback.prompt,
            "version": feedback.version,
            "label": feedback.label,
            "model": feedback.model,
            "at": feedback.at,
            "created": datetime.fromtimestamp(feedback.at, UTC),
            "text": feedback.text,
            "user_id": feedback.user_id,
        }
        with translated(f"Firestore write {self.collection_name}/{document_id(feedback.request_id)}"):
            self._collection.document(document_id(feedback.request_id)).set(document, timeout=self.timeout_s)

    def query(self, *, prompt: str | None = None, since: float = 0.0) -> list[Feedback]:
        """Ratings given at or after `since` (unix seconds), of `prompt` if given, oldest first."""
        if prompt is not None:
            query = self._collection.where(filter=FieldFilter("prompt", "==", prompt))
        else:
            query = self._collection.where(filter=FieldFilter("at", ">=", since))
        out: list[Feedback] = []
        with translated(f"Firestore query {self.collection_name}"):
            for snapshot in query.stream(timeout=self.timeout_s):
                item = _feedback_of(snapshot.to_dict() or {})
                if item is not None and item.at >= since:
                    out.append(item)
        out.sort(key=lambda f: (f.at, f.request_id))
        return out

    def close(self) -> None:
        """Close the client's channel."""
        self._client.close()


def _feedback_of(doc: dict[str, Any]) -> Feedback | None:
    """A stored document as `Feedback`; None for one that is not a valid genaiops feedback document."""
    try:
        rating = int(doc["rating"])
        if not 1 <= rating <= 5:
            return None
        return Feedback(
            request_id=str(doc["request_id"]),
            rating=rating,
            prompt=str(doc["prompt"]),
            version=str(doc["version"]),
            label=str(doc.get("label", "")),
            model=str(doc.get("model", "")),
            at=float(doc["at"]),
            text=doc.get("text"),
            user_id=doc.get("user_id"),
        )
    except (KeyError, TypeError, ValueError):
        return None
