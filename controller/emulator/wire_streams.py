"""The two framings the emulator streams answers in, shared by every streaming HTTP surface.

`json_array` joins already-encoded JSON documents into one JSON array, piece by piece (what the gapic REST
transports read with `rest_streaming.ResponseIterator`, and what streamed RawPredict answers over the gapic
transport); `sse_event` frames one server-sent event (`data: ...` and a blank line; Gemini's REST surface
ends its events with CRLF, the OpenAI-compatible chat stream and the generic adapter with LF).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def json_array(items: Iterable[bytes]) -> Iterator[bytes]:
    """`[`, then each JSON document (after a `,` but the first), then `]`: one piece per document."""
    yield b"["
    for n, item in enumerate(items):
        yield (b"," if n else b"") + item
    yield b"]"


def sse_event(data: bytes | str, *, newline: bytes = b"\n") -> bytes:
    """One server-sent event: `data: DATA` and a blank line, lines ended by `newline`."""
    payload = data.encode() if isinstance(data, str) else data
    return b"data: " + payload + newline + newline
