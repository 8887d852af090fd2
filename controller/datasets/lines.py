"""Streaming line reader: the first step of every `genaiops data` command.

A JSONL file is read in binary, one line at a time, never whole. A line longer than `MAX_LINE_BYTES` is
reported as oversize and skipped in bounded chunks, so even a file with no newline at all cannot make a
command hold it in memory. A UTF-8 byte-order mark on the first line is dropped (editors on Windows write
one). Each raw chunk can be fed to a hash as it is read, so `stats` reports the content hash in the same
pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

# An example is at most ~131,072 tokens (about 512 KiB of text); 32 MiB leaves room for long file URIs and
# escapes while still bounding memory.
MAX_LINE_BYTES = 32 * 1024 * 1024
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawLine:
    """One line of the file, 1-based, without its line ending (`\\n` or `\\r\\n`)."""

    number: int
    data: bytes
    oversize: bool = False  # longer than the limit: `data` is empty and the line was skipped


def read_lines(
    stream: BinaryIO, *, max_bytes: int = MAX_LINE_BYTES, feed: Callable[[bytes], object] | None = None
) -> Iterator[RawLine]:
    """Yield every line of `stream`; `feed` (such as a hash's `update`) sees every byte read, in order."""
    number = 0
    while True:
        chunk = stream.readline(max_bytes + 1)
        if not chunk:
            return
        if feed is not None:
            feed(chunk)
        number += 1
        if len(chunk) > max_bytes and not chunk.endswith(b"\n"):
            _skip_rest(stream, max_bytes=max_bytes, feed=feed)
            yield RawLine(number=number, data=b"", oversize=True)
            continue
        if number == 1 and chunk.startswith(BOM):
            chunk = chunk[len(BOM) :]
        yield RawLine(number=number, data=_strip_newline(chunk))


def _skip_rest(stream: BinaryIO, *, max_bytes: int, feed: Callable[[bytes], object] | None) -> None:
    while True:
        rest = stream.readline(max_bytes)
        if feed is not None and rest:
            feed(rest)
        if not rest or rest.endswith(b"\n"):
            return


def _strip_newline(chunk: bytes) -> bytes:
    if chunk.endswith(b"\n"):
        chunk = chunk[:-1]
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
    return chunk
