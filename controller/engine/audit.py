"""The audit log: one JSON line per operation carried out (or refused), appended to a file.

Opening it creates its directory; a path that cannot be created is a UserError (a clear message, exit 1),
so the CLI learns it before acting, not from a traceback half-way through an apply."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.errors import UserError


class AuditLog:
    """Append-only JSON lines; safe to share between executor threads."""

    def __init__(self, path: Path | None, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise UserError(f"cannot write the audit log {path}: {err.strerror or err}") from err
            if path.is_dir():
                raise UserError(f"cannot write the audit log {path}: it is a directory")

    def write(self, **fields: Any) -> None:
        """Append one record with a timestamp."""
        if self.path is None:
            return
        record = {"time": self._clock().isoformat(timespec="milliseconds"), **fields}
        line = json.dumps(record, sort_keys=False, default=str)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
