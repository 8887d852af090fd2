"""Events to a webhook: a JSON POST per event, retried with backoff, never failing the rollout or the pass.

Two families of events are posted: rollout events (`rollout.events.RolloutEvent`) and the reconcile loop's
model lifecycle events (`ModelEvent` here: `model-retiring`, `model-retired`). Anything with `to_json()`
(a `Notice`) can be delivered.

Delivery happens on a background thread so a slow or dead receiver never delays a rollback. A failed
POST (connection refused, timeout, a status of 300 or more) is a `TransientError`, retried by the same
`RetryPolicy` as every API call (`engine/retry.py`), with fewer attempts.

When the loop tells people about a retiring model (pure: `ModelNotices` decides, the reconciler sends): once
when a model reference first shows up, then again each time its days left cross one of
`RETIRING_THRESHOLDS_DAYS` (30, 14, 7 and 1 days: a month to plan the move, two weeks to test it, a week and
the last day as alarms). A reference is a manifest's field naming a model id (`Prompt/greet`, `spec.model`,
`gemini-2.0-flash`): a commit that leaves it as it was is not news, so it is not announced again. A retired
model is announced once per reference and refused commit. What was sent can be read back from the audit log
(`ModelNotices.from_records`), so a restarted controller does not announce it again.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol

from controller.engine.retry import RetryPolicy
from controller.errors import TransientError

WEBHOOK_RETRY = RetryPolicy(attempts=5, initial_s=0.5, max_s=10.0)


class Notice(Protocol):
    """An event the webhook can post: its JSON body, whose `event` names it."""

    def to_json(self) -> dict[str, object]: ...


class WebhookNotifier:
    """Posts `event.to_json()` to `url` for any `Notice`; call `close()` to flush before exiting."""

    def __init__(
        self,
        url: str,
        *,
        retry: RetryPolicy = WEBHOOK_RETRY,
        timeout_s: float = 5.0,
        on_failure: Callable[[str], None] = lambda _: None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must start with http:// or https:// (got {url!r})")
        self.url = url
        self.retry = retry
        self.timeout_s = timeout_s
        self.on_failure = on_failure
        self.delivered = 0
        self._queue: queue.Queue[Notice | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def __call__(self, event: Notice) -> None:
        """Queue one event for delivery."""
        self._queue.put(event)

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "genaiops"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                if response.status >= 300:
                    raise TransientError(f"HTTP {response.status}")
        except urllib.error.HTTPError as err:
            raise TransientError(f"HTTP {err.code}") from err
        except (urllib.error.URLError, OSError) as err:  # refused, unreachable, timed out
            raise TransientError(str(getattr(err, "reason", err))) from err

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            payload = event.to_json()
            body = json.dumps(payload, default=str).encode()
            try:
                self.retry.call(functools.partial(self._post, body))
                self.delivered += 1
            except Exception as err:  # delivery is best effort; the audit log has every event anyway
                self.on_failure(f"webhook {self.url}: {payload.get('event')} not delivered: {err}")

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (waiting up to `timeout_s`), then stop."""
        self._queue.put(None)
        self._thread.join(timeout_s)


# --- Model lifecycle events ----------------------------------------------------------------------------------

RETIRING_THRESHOLDS_DAYS = (30, 14, 7, 1)


class ModelEventKind(StrEnum):
    """What the reconcile loop found about a model a manifest names (the event's `event`)."""

    RETIRING = "model-retiring"  # its last day falls within the horizon
    RETIRED = "model-retired"  # past its last day: the pass refused the commit


Reference = tuple[str, str, str]  # (manifest `Kind/name`, field path, model id)


@dataclass(frozen=True)
class ModelEvent:
    """One model reference judged by a pass: where a manifest names the model, and what happens to it."""

    kind: ModelEventKind
    manifest: str  # `Prompt/greet`
    field: str  # `spec.model`
    source: str  # `manifests/prompts.yaml:5:10`, relative to the repository
    model: str  # the publisher model id: `gemini-2.0-flash`
    value: str  # the field's whole value: `publishers/google/models/gemini-2.0-flash`
    last_day: date | None
    days_left: int | None  # 0: today is the last day; negative: retired
    successor: str | None
    commit: str | None
    threshold: int | None = None  # the smallest RETIRING_THRESHOLDS_DAYS at or above days_left (None: above all)
    used_by: tuple[str, ...] = ()  # prompts calling the model through a Model or TuningJob manifest
    tuned: bool = False  # a TuningJob's base model: the tuned model retires with it
    detail: str = ""  # for people: `gemini-2.0-flash is retiring in 16 days (last day 2026-02-05); move to ...`

    @property
    def reference(self) -> Reference:
        """What identifies the reference across passes, commits and restarts."""
        return (self.manifest, self.field, self.model)

    def to_json(self) -> dict[str, object]:
        """The webhook / audit body."""
        return {
            "event": self.kind.value,
            "manifest": self.manifest,
            "field": self.field,
            "source": self.source,
            "model": self.model,
            "value": self.value,
            "last_day": self.last_day.isoformat() if self.last_day is not None else None,
            "days_left": self.days_left,
            "successor": self.successor,
            "threshold": self.threshold,
            "commit": self.commit,
            "used_by": list(self.used_by),
            "tuned": self.tuned,
            "detail": self.detail,
        }


def threshold_of(days_left: int, thresholds: Iterable[int] = RETIRING_THRESHOLDS_DAYS) -> int | None:
    """The smallest threshold `days_left` is at or under (16 -> 30, 7 -> 7, 0 -> 1); None above every one."""
    under = [t for t in thresholds if days_left <= t]
    return min(under) if under else None


def _rank(threshold: int | None) -> float:
    return float("inf") if threshold is None else float(threshold)


@dataclass
class ModelNotices:
    """What was announced, per reference: the threshold of the last `model-retiring` and the commits of each
    `model-retired`. Pure bookkeeping; the reconciler sends what `due` allows and then calls `sent`."""

    retiring: dict[Reference, int | None] = field(default_factory=dict)
    retired: set[tuple[Reference, str | None]] = field(default_factory=set)

    def due(self, event: ModelEvent) -> bool:
        """True for a reference not announced yet, a `model-retiring` whose days left crossed a threshold
        since the last one (a later last day never announces again), and a `model-retired` not announced
        for this commit."""
        if event.kind is ModelEventKind.RETIRED:
            return (event.reference, event.commit) not in self.retired
        if event.reference not in self.retiring:
            return True
        return _rank(event.threshold) < _rank(self.retiring[event.reference])

    def sent(self, event: ModelEvent) -> None:
        """Remember that `event` was announced."""
        if event.kind is ModelEventKind.RETIRED:
            self.retired.add((event.reference, event.commit))
        else:
            self.retiring[event.reference] = event.threshold

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> ModelNotices:
        """What the `model-retiring` / `model-retired` records of an audit log announced (other records and
        malformed ones are skipped)."""
        notices = cls()
        for record in records:
            kind, manifest, path, model = (record.get(k) for k in ("event", "manifest", "field", "model"))
            if not (isinstance(manifest, str) and isinstance(path, str) and isinstance(model, str)):
                continue
            reference = (manifest, path, model)
            commit = record.get("commit")
            threshold = record.get("threshold")
            if kind == ModelEventKind.RETIRED.value:
                notices.retired.add((reference, commit if isinstance(commit, str) else None))
            elif kind == ModelEventKind.RETIRING.value:
                known = threshold if isinstance(threshold, int) and not isinstance(threshold, bool) else None
                previous = notices.retiring.get(reference, known)
                notices.retiring[reference] = known if _rank(known) <= _rank(previous) else previous
        return notices
