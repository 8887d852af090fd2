"""Named collections of protobuf messages behind one lock, optionally persisted as one JSON document.

Part of the local emulator (controller/emulator): the emulated Cloud Monitoring alerting services
(`alerting_policies.py`, `alerting_channels.py`) share one `MessageStore`, and Secret Manager
(`secretmanager.py`) has its own. Monitoring's time series (`metrics.py`) stay in memory only, as before;
these are configuration, like Vertex's endpoints, so they survive a restart when the emulator has a state
file: `<state>.alerting.json` / `<state>.secrets.json` beside it.

Persistence: after each mutating `transaction` the document is written to a temporary file next to it and
renamed over the old one (atomic on POSIX). Format: `{"format": FORMAT, "collections": {KIND: [{"key": KEY,
"message": JSON with proto field names}]}}`. One process writes the file; it is read once, at construction. Secret
payloads and channel secrets are stored in clear: this is a local emulator's file, never a real secret store.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

FORMAT = "genaiops-emulator-messages/1"


class MessageStore:
    """`kinds` maps a collection name to its raw protobuf message class; each collection maps a key (a
    resource name) to a message. Read and change them only inside `transaction`."""

    def __init__(self, kinds: Mapping[str, type[Message]], *, path: Path | None = None) -> None:
        self.path = path
        self._kinds = dict(kinds)
        self._lock = threading.RLock()
        self._collections: dict[str, dict[str, Message]] = {kind: {} for kind in self._kinds}
        if path is not None and path.exists() and path.stat().st_size > 0:
            self._load(path)

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[dict[str, dict[str, Message]]]:
        """Hold the lock over the collections; save afterwards when `write` and the block raised nothing."""
        with self._lock:
            yield self._collections
            if write:
                self._save()

    def new_id(self, taken: Mapping[str, Any], prefix: str) -> str:
        """A fresh decimal id, as Cloud Monitoring assigns (up to 20 digits), unused under `prefix`."""
        while True:
            candidate = str(secrets.randbits(64))
            if f"{prefix}{candidate}" not in taken:
                return candidate

    def _load(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("format") != FORMAT:
                raise ValueError(f"format {document.get('format')!r}, expected {FORMAT!r}")
            for kind, items in document.get("collections", {}).items():
                message_class = self._kinds[kind]
                for item in items:
                    message = message_class()
                    json_format.ParseDict(item["message"], message)
                    self._collections[kind][item["key"]] = message
        except (OSError, ValueError, KeyError, json_format.ParseError) as err:
            raise ValueError(f"{path}: not an emulator state file this version can read: {err}") from err

    def _save(self) -> None:
        if self.path is None:
            return
        document = {
            "format": FORMAT,
            "collections": {
                kind: [
                    {"key": key, "message": json_format.MessageToDict(message, preserving_proto_field_name=True)}
                    for key, message in sorted(items.items())
                ]
                for kind, items in self._collections.items()
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=1)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
