"""User feedback on answers: `record_feedback(request_id, rating, text=None, user_id=None)` for
applications, and the per-version summary behind `genaiops feedback report`.

Place in the flow: the runtime client tells a `FeedbackRecorder` about every request it served
(`remember`, a bounded in-memory map request id -> prompt, version, label, model; `tee` wraps the client's
metrics recorder so that happens with no change to the client), so a later rating can be stored with what
served it and joined without another lookup. `record_feedback` checks the rating (an
integer 1-5), redacts the text (PII, `controller.runtime.pii`) and bounds its length, stores it through a
`FeedbackStore` (Firestore in the project, or a local SQLite file without one:
`controller.providers.runtime_stores.open_feedback_store`) and
emits the feedback-score metric through the `Recorder`. `genaiops feedback report` summarises stored
feedback per prompt version with `controller.runtime.usage.feedback_rows`.

One rating per request: rating the same request again replaces the stored document (the metric counts
every rating given). A request id this process did not serve (or served longer ago than the map
remembers) raises `UnknownRequestError`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controller.errors import UserError
from controller.runtime.records import Feedback, FeedbackStore, Recorder, RequestRecord

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_SQLITE_PATH",
    "FeedbackRecorder",
    "RequestIndex",
    "Served",
    "UnknownRequestError",
]

DEFAULT_COLLECTION = "genaiops-feedback"
DEFAULT_SQLITE_PATH = Path(".genaiops/feedback.sqlite")
DEFAULT_MAX_REQUESTS = 100_000
MAX_TEXT_CHARS = 4000


class UnknownRequestError(UserError):
    """Feedback names a request this client does not remember."""


@dataclass(frozen=True)
class Served:
    """What served a request: the fields a feedback document carries."""

    prompt: str
    version: str
    label: str
    model: str


class RequestIndex:
    """The most recent `max_requests` request ids and what served them (thread-safe, LRU by arrival)."""

    def __init__(self, max_requests: int = DEFAULT_MAX_REQUESTS) -> None:
        if max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        self.max_requests = max_requests
        self._lock = threading.Lock()
        self._served: OrderedDict[str, Served] = OrderedDict()

    def remember(self, record: RequestRecord) -> None:
        """Note what served `record.request_id`, forgetting the oldest beyond the bound."""
        served = Served(record.prompt, record.version, record.label, record.model)
        with self._lock:
            self._served[record.request_id] = served
            if len(self._served) > self.max_requests:
                self._served.popitem(last=False)

    def get(self, request_id: str) -> Served | None:
        """What served `request_id`, if remembered."""
        with self._lock:
            return self._served.get(request_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._served)


def _default_redact(text: str) -> str:
    from controller.runtime.pii import redact_text

    return redact_text(text)


class FeedbackRecorder:
    """Stores ratings with what served the request and counts them into the feedback-score metric."""

    def __init__(
        self,
        store: FeedbackStore,
        *,
        recorder: Recorder | None = None,
        redact: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
        max_requests: int = DEFAULT_MAX_REQUESTS,
    ) -> None:
        """`redact` replaces PII in the text (default: `controller.runtime.pii.redact_text`)."""
        self.store = store
        self.index = RequestIndex(max_requests)
        self._recorder = recorder
        self._redact = redact or _default_redact
        self._clock = clock

    def remember(self, record: RequestRecord) -> None:
        """Called by the client for every request it served."""
        self.index.remember(record)

    def tee(self, recorder: Recorder | None = None) -> Recorder:
        """A `Recorder` for the client: it remembers every request for later feedback and passes every
        record on to `recorder` (the metrics recorder), which also receives the feedback-score metric unless
        this recorder was given another one.

            # cloud_monitoring_recorder and open_feedback_store: controller.providers.runtime_stores
            metrics = cloud_monitoring_recorder(project="my-project")
            feedback = FeedbackRecorder(open_feedback_store(project="my-project"))
            client = GenAIClient(prompts, models, recorder=feedback.tee(metrics))
            result = client.generate("support-answer", {...})
            feedback.record_feedback(result.request_id, 5, text="Spot on")
        """
        if self._recorder is None:
            self._recorder = recorder
        return _Remembering(self, recorder)

    def record_feedback(
        self, request_id: str, rating: int, text: str | None = None, user_id: str | None = None
    ) -> Feedback:
        """Store a rating (1-5) of a request this client served, with optional free text (redacted and cut
        to `MAX_TEXT_CHARS`) and the rating user's id; emit the feedback-score metric. Returns what was
        stored. Raises ValueError for a rating outside 1-5, UnknownRequestError for a request id it does
        not remember, and the store's `controller.errors` error if it cannot be written."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValueError(f"rating must be an integer from 1 to 5 (got {rating!r})")
        served = self.index.get(request_id)
        if served is None:
            raise UnknownRequestError(
                f"no request {request_id!r} is remembered by this client (only the last "
                f"{self.index.max_requests} requests it served are)"
            )
        clean = self._redact(text)[:MAX_TEXT_CHARS] if text else None
        feedback = Feedback(
            request_id=request_id,
            rating=rating,
            prompt=served.prompt,
            version=served.version,
            label=served.label,
            model=served.model,
            at=self._clock(),
            text=clean,
            user_id=user_id or None,
        )
        self.store.add(feedback)
        if self._recorder is not None:
            self._recorder.record_feedback(feedback)
        return feedback


class _Remembering:
    """The `Recorder` returned by `FeedbackRecorder.tee`."""

    def __init__(self, feedback: FeedbackRecorder, inner: Recorder | None) -> None:
        self._feedback = feedback
        self._inner = inner

    def record(self, record: RequestRecord) -> None:
        self._feedback.remember(record)
        if self._inner is not None:
            self._inner.record(record)

    def record_feedback(self, feedback: Feedback) -> None:
        if self._inner is not None:
            self._inner.record_feedback(feedback)

    def flush(self) -> None:
        if self._inner is not None:
            self._inner.flush()

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
