"""The one lock around the emulated cloud, its persistence, and the completion of long-running operations.

Every service call runs in a `transaction`: under one lock, the state is reloaded if another process
saved the file since, operations whose delay has passed are applied (the mutation takes effect when the
operation completes, as in the cloud), and a mutating transaction saves the file afterwards (write to a
temporary file, then an atomic rename). Without a path the state lives in memory only.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.longrunning import operations_pb2

from controller.emulator.api import ApiError
from controller.emulator.vertex.lro import finished_operation, pending_operation
from controller.emulator.vertex.state import CloudState, OperationRecord

# Applies a pending operation's request to the state; returns the raw protobuf response or raises ApiError.
Applier = Callable[[CloudState, dict[str, Any]], Any]

_KEEP_DONE_OPERATIONS = 500


class StateFileError(ValueError):
    """The state file exists but is not an emulator state this version can read."""


class StateStore:
    """Owns the `CloudState`; all access goes through `transaction`."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        lro_delay_s: float | dict[str, float] = 0.0,
    ) -> None:
        self.path = path
        self.clock = clock
        self.seed = seed
        self.lock = threading.RLock()
        self._lro_delay = lro_delay_s
        self._appliers: dict[str, Applier] = {}
        self._state = CloudState()
        self._file_key: tuple[int, int, int] | None = None
        self._next_due = math.inf  # earliest due time of a pending operation: Predict skips settling
        if path is not None and path.exists():
            self._load()

    # -- transactions -------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[CloudState]:
        """Hold the lock over a consistent, settled state; save afterwards if `write` and no error."""
        with self.lock:
            self._reload_if_changed()
            settled = self._settle()
            ok = False
            try:
                yield self._state
                ok = True
            finally:
                if (write and ok) or settled:
                    self._save()

    def register_applier(self, method: str, applier: Applier) -> None:
        """Declare how a pending operation of `method` takes effect."""
        self._appliers[method] = applier

    def lro_delay(self, method: str) -> float:
        """How long an operation of `method` stays pending."""
        if isinstance(self._lro_delay, dict):
            return self._lro_delay.get(method, self._lro_delay.get("*", 0.0))
        return self._lro_delay

    def set_lro_delay(self, delay: float | dict[str, float]) -> None:
        """Change the pending time of future operations (seconds, or per method with "*" as default)."""
        with self.lock:
            self._lro_delay = delay

    # -- ids ----------------------------------------------------------------------------------------
    def _draw(self) -> random.Random:
        # Seeded by (seed, a persisted serial): reproducible for tests, never repeating after a restart.
        self._state.serial += 1
        return random.Random(f"{self.seed}:{self._state.serial}")

    def new_id(self, digits: int) -> str:
        """A random decimal id of exactly `digits` digits, no leading zero (call inside a transaction)."""
        return str(self._draw().randrange(10 ** (digits - 1), 10**digits))

    def new_etag(self) -> str:
        """A fresh opaque etag (call inside a transaction)."""
        return base64.urlsafe_b64encode(self._draw().randbytes(12)).decode("ascii")

    # -- operations ---------------------------------------------------------------------------------
    def start_operation(
        self, state: CloudState, *, parent: str, method: str, request: dict[str, Any]
    ) -> operations_pb2.Operation:
        """Record a new operation under `parent`; with no delay it completes before this returns."""
        now = self.clock()
        name = f"{parent}/operations/{self.new_id(19)}"
        record = OperationRecord(
            name=name, method=method, request=request, create_time=now, due_at=now + self.lro_delay(method)
        )
        state.operations[name] = record
        if record.due_at <= now:
            self._complete(state, record, now)
        else:
            self._next_due = min(self._next_due, record.due_at)
        self._prune(state)
        return self.operation_proto(record)

    def operation_proto(self, record: OperationRecord) -> operations_pb2.Operation:
        """The wire form of an operation record."""
        if record.done:
            return operations_pb2.Operation.FromString(base64.b64decode(record.result_b64))
        return pending_operation(name=record.name, method=record.method, create_time=record.create_time)

    def _settle(self) -> bool:
        now = self.clock()
        if now < self._next_due:
            return False
        due = [op for op in self._state.operations.values() if not op.done and op.due_at <= now]
        for record in sorted(due, key=lambda op: op.due_at):
            self._complete(self._state, record, now)
        self._compute_next_due()
        return bool(due)

    def _compute_next_due(self) -> None:
        pending = [op.due_at for op in self._state.operations.values() if not op.done]
        self._next_due = min(pending, default=math.inf)

    def _complete(self, state: CloudState, record: OperationRecord, now: float) -> None:
        outcome: Any
        try:
            outcome = self._appliers[record.method](state, record.request)
        except ApiError as err:
            outcome = err
        self.finish(record, outcome, now)

    @staticmethod
    def finish(record: OperationRecord, outcome: Any, now: float) -> None:
        """Mark an operation done with a raw protobuf response or an `ApiError`."""
        op = finished_operation(
            name=record.name,
            method=record.method,
            create_time=record.create_time,
            done_time=now,
            outcome=outcome,
        )
        record.done = True
        record.request = {}
        record.result_b64 = base64.b64encode(op.SerializeToString()).decode("ascii")

    @staticmethod
    def _prune(state: CloudState) -> None:
        done = [op for op in state.operations.values() if op.done]
        for op in sorted(done, key=lambda o: o.create_time)[: max(0, len(done) - _KEEP_DONE_OPERATIONS)]:
            del state.operations[op.name]

    # -- persistence --------------------------------------------------------------------------------
    def _stat_key(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _reload_if_changed(self) -> None:
        if self.path is not None and self._stat_key() != self._file_key:
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        key = self._stat_key()
        if key is None:
            self._state, self._file_key, self._next_due = CloudState(), None, math.inf
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._state = CloudState.from_json(data)
        except (ValueError, TypeError, KeyError) as err:
            raise StateFileError(f"cannot read the emulator state file {self.path}: {err}") from err
        self._file_key = key
        self._compute_next_due()

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self._state.to_json(), out, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
        self._file_key = self._stat_key()
