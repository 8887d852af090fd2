"""The audit log as the dashboard reads it: `AuditReader` parses the JSON lines `engine/audit.py` appends,
incrementally (only the bytes added since the last read), and `audit_page` filters them for the audit page,
newest first. The rollout page takes its events (`rollout-*` records, `RolloutEvent.to_json`) and the
operations that started a canary from the same records.

A line that is not a JSON object with a readable time (a torn write, a hand edit) is skipped and counted,
never fatal. A log that shrank or was replaced (rotated) is read again from its start.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from controller.dashboard.shapes import AuditPage, AuditRow

MAX_LIMIT = 5000
_SUMMARY_FIELDS = ("target", "changes", "ok", "error", "conclusion", "winner", "decision", "label", "prompt")


@dataclass(frozen=True)
class AuditRecord:
    """One readable line: when (unix seconds), the record as written, and its text lowercased (for search)."""

    at: float
    record: Mapping[str, object]
    text: str

    @property
    def event(self) -> str:
        """`apply-started`, `rollout-aborted`, ...; an operation's record: the operation (`DeployModel`)."""
        return str(self.record.get("event") or self.record.get("op") or "")


def _time_of(record: Mapping[str, object]) -> float | None:
    at = record.get("at")
    if isinstance(at, int | float) and not isinstance(at, bool) and math.isfinite(at):
        return float(at)
    text = record.get("time")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def parse_line(line: str) -> AuditRecord | None:
    """The record of one line, or None when it is not a JSON object with a readable time."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    at = _time_of(value)
    return None if at is None else AuditRecord(at, value, line.lower())


class AuditReader:
    """The records of an audit log file, read incrementally; safe to share between request threads."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: list[AuditRecord] = []
        self._skipped = 0
        self._offset = 0
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file read so far

    def signature(self) -> tuple[int, int]:
        """(size, modification time in ns) of the file, (0, 0) when absent: changes when it is written."""
        try:
            stat = self.path.stat() if self.path is not None else None
        except OSError:
            return (0, 0)
        return (stat.st_size, stat.st_mtime_ns) if stat is not None else (0, 0)

    def records(self) -> tuple[tuple[AuditRecord, ...], int]:
        """Every readable record in file order, and how many lines were skipped as unreadable."""
        with self._lock:
            self._read_more()
            return tuple(self._records), self._skipped

    def _read_more(self) -> None:
        if self.path is None:
            return
        try:
            with self.path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                size = info.st_size
                identity = (info.st_dev, info.st_ino)
                if identity != self._identity or size < self._offset:
                    self._records, self._skipped, self._offset, self._identity = [], 0, 0, identity
                handle.seek(self._offset)
                chunk = handle.read(size - self._offset)
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time, whole
        for raw in chunk[:end].splitlines():
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            record = parse_line(line)
            if record is None:
                self._skipped += 1
            else:
                self._records.append(record)
        self._offset += end


def resource_of(record: Mapping[str, object]) -> str:
    """The address, endpoint or prompt a record concerns ("" when none)."""
    for key in ("address", "endpoint", "prompt"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _status_of(record: Mapping[str, object]) -> str:
    status = record.get("status")
    if isinstance(status, str):
        return status
    ok = record.get("ok")
    if isinstance(ok, bool):
        return "ok" if ok else "error"
    event = str(record.get("event", ""))
    return event.removeprefix("rollout-") if event.startswith("rollout-") else ""


def summary_of(record: AuditRecord) -> str:
    """One line for people: the operation or event, what it concerns, and its detail."""
    fields = record.record
    head = " ".join(filter(None, (record.event, resource_of(fields))))
    detail = fields.get("detail")
    if isinstance(detail, str) and detail:
        return f"{head}: {detail}"
    extra = [f"{k} {fields[k]}" for k in _SUMMARY_FIELDS if k in fields and fields[k] not in (None, "", [], {})]
    return f"{head}: {', '.join(extra)}" if extra else head


def row_of(record: AuditRecord) -> AuditRow:
    """The audit page's row of a record."""
    return AuditRow(
        at=record.at,
        event=record.event,
        resource=resource_of(record.record),
        status=_status_of(record.record),
        summary=summary_of(record),
        record=dict(record.record),
    )


def audit_page(
    records: Sequence[AuditRecord],
    *,
    skipped: int,
    text: str = "",
    event: str = "",
    resource: str = "",
    limit: int = 200,
) -> AuditPage:
    """The records matching every filter, newest first, at most `limit`: `text` anywhere in the line and
    `resource` in the resource (both case-insensitive), `event` exactly."""
    needle, where = text.lower(), resource.lower()
    matching = [
        r
        for r in reversed(records)
        if (not needle or needle in r.text)
        and (not event or r.event == event)
        and (not where or where in resource_of(r.record).lower())
    ]
    return AuditPage(
        rows=[row_of(r) for r in matching[:limit]],
        total=len(matching),
        events=sorted({r.event for r in records if r.event}),
        skipped=skipped,
    )


def rollout_records(records: Sequence[AuditRecord], *, kind: str, name: str, part: str) -> list[AuditRecord]:
    """The `rollout-*` records of one rollout's identity (an endpoint's deployment, or a prompt's label), in
    file order (`rollout-conflict` and other records without a step left out)."""
    found = []
    for record in records:
        fields = record.record
        if not record.event.startswith("rollout-") or "step" not in fields:
            continue
        if kind == "Prompt":
            mine = fields.get("kind") == "Prompt" and fields.get("prompt") == name and fields.get("label") == part
        else:
            mine = fields.get("kind") in (None, "Endpoint") and fields.get("endpoint") == name
            mine = mine and fields.get("deployment") == part
        if mine:
            found.append(record)
    return found


def operations(records: Sequence[AuditRecord], *, address: str, op: str, until: float) -> list[AuditRecord]:
    """The successful `op` records (`StartRollout`, `DeployModel`) on `address` up to `until`, in file order."""
    return [
        r
        for r in records
        if r.record.get("op") == op
        and r.record.get("address") == address
        and r.record.get("status") == "ok"
        and r.at <= until
    ]


__all__ = [
    "MAX_LIMIT",
    "AuditReader",
    "AuditRecord",
    "audit_page",
    "operations",
    "parse_line",
    "resource_of",
    "rollout_records",
    "row_of",
]
