"""The local feedback store: a `FeedbackStore` (controller/runtime/records.py) in one SQLite file.

Place in the flow: the default store of `controller.providers.runtime_stores.open_feedback_store` when no Google
Cloud project is set (`.genaiops/feedback.sqlite`), so the demo and local development need nothing
running; `genaiops feedback report` reads the same file. One row per request id (a second rating of the
same request replaces the first), indexed by time. Each call opens its own connection (cheap for SQLite),
so the store is safe to share between threads and processes; WAL mode lets readers run beside a writer.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from controller.errors import PermanentError
from controller.runtime.records import Feedback

__all__ = ["SqliteFeedbackStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT PRIMARY KEY,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    prompt TEXT NOT NULL,
    version TEXT NOT NULL,
    label TEXT NOT NULL,
    model TEXT NOT NULL,
    at REAL NOT NULL,
    text TEXT,
    user_id TEXT
);
CREATE INDEX IF NOT EXISTS feedback_at ON feedback (at);
CREATE INDEX IF NOT EXISTS feedback_prompt ON feedback (prompt, at);
"""
_COLUMNS = "request_id, rating, prompt, version, label, model, at, text, user_id"


class SqliteFeedbackStore:
    """Feedback rows in a SQLite file (created with its directory on first use)."""

    def __init__(self, path: Path, *, timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout_s)
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                self._ready = True
        except (OSError, sqlite3.Error) as err:
            raise PermanentError(f"feedback store {self.path}: {err}") from err
        return conn

    def add(self, feedback: Feedback) -> None:
        """Store one rating (replacing an earlier rating of the same request)."""
        row = (
            feedback.request_id,
            feedback.rating,
            feedback.prompt,
            feedback.version,
            feedback.label,
            feedback.model,
            feedback.at,
            feedback.text,
            feedback.user_id,
        )
        with closing(self._connect()) as conn:
            try:
                with conn:
                    conn.execute(f"INSERT OR REPLACE INTO feedback ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", row)
            except sqlite3.Error as err:
                raise PermanentError(f"feedback store {self.path}: {err}") from err

    def query(self, *, prompt: str | None = None, since: float = 0.0) -> list[Feedback]:
        """Ratings given at or after `since` (unix seconds), of `prompt` if given, oldest first (none when
        the file does not exist yet: reading never creates it)."""
        if not self._ready and not self.path.exists():
            return []
        sql = f"SELECT {_COLUMNS} FROM feedback WHERE at >= ?"
        args: list[object] = [since]
        if prompt is not None:
            sql += " AND prompt = ?"
            args.append(prompt)
        with closing(self._connect()) as conn:
            try:
                rows = conn.execute(sql + " ORDER BY at, request_id", args).fetchall()
            except sqlite3.Error as err:
                raise PermanentError(f"feedback store {self.path}: {err}") from err
        return [
            Feedback(
                request_id=r[0],
                rating=int(r[1]),
                prompt=r[2],
                version=r[3],
                label=r[4],
                model=r[5],
                at=float(r[6]),
                text=r[7],
                user_id=r[8],
            )
            for r in rows
        ]
