"""The content hash of a dataset file: a `Dataset` manifest's version.

A streaming sha256 of the file's bytes exactly as stored (line endings and all), read in 1 MiB chunks, so
a 1 GB file hashes in constant memory. A changed byte is a new version; an unchanged file never is. The
same digest is what `genaiops data stats` prints as `sha256` (it hashes while it reads).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1024 * 1024


def content_hash(path: Path) -> str:
    """The lowercase hex sha256 of the file's bytes (64 characters). Raises OSError when unreadable."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
