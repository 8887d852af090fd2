"""Deterministic train/validation split: `genaiops data split FILE --validation 0.1 --seed N`.

Each line goes to validation when sha256(seed, line bytes) maps below the fraction. The bucket depends
only on the seed and the line's content, never on Python's hash seed, the machine or the line's position:
the same seed gives the same split everywhere, reordering the file moves no example across, and exact
duplicates always land on the same side (no copy of a validation example leaks into training). The
fraction is therefore met on average, not exactly; the counts are reported. Streaming: both outputs are
written line by line to temporary files beside the targets and renamed into place only when the whole
input was read, so a failed split leaves no half-written file. Blank lines are dropped; line endings are
written as `\\n`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from controller.datasets.lines import MAX_LINE_BYTES, read_lines
from controller.datasets.sft import MAX_VALIDATION_EXAMPLES
from controller.errors import UserError

_SCALE = float(2**64)


def bucket(data: bytes, *, seed: int) -> float:
    """Where a line falls in [0, 1) for `seed`: the first 8 bytes of sha256(seed, 0x00, line) / 2**64."""
    digest = hashlib.sha256(str(seed).encode("ascii") + b"\x00" + data).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def goes_to_validation(data: bytes, *, seed: int, fraction: float) -> bool:
    """True when the line belongs to the validation set."""
    return bucket(data, seed=seed) < fraction


@dataclass(frozen=True)
class SplitCounts:
    """How many lines went where."""

    training: int
    validation: int
    blank: int

    @property
    def validation_over_limit(self) -> bool:
        """More validation examples than Vertex AI accepts (5,000 for Gemini 2.5)."""
        return self.validation > MAX_VALIDATION_EXAMPLES


def default_outputs(source: Path) -> tuple[Path, Path]:
    """`data.jsonl` -> `data.train.jsonl`, `data.validation.jsonl` beside it."""
    return source.with_name(f"{source.stem}.train.jsonl"), source.with_name(f"{source.stem}.validation.jsonl")


def split_file(source: Path, *, training: Path, validation: Path, fraction: float, seed: int) -> SplitCounts:
    """Split `source` into `training` and `validation`. Raises UserError on bad arguments or an oversize line,
    OSError when a file cannot be read or written."""
    if not 0.0 < fraction < 1.0:
        raise UserError(f"--validation must be a fraction between 0 and 1, exclusive (got {fraction})")
    for target in (training, validation):
        if target.resolve() == source.resolve():
            raise UserError(f"{target}: refusing to overwrite the input file")
    if training.resolve() == validation.resolve():
        raise UserError(f"{training}: training and validation outputs must differ")
    temporaries = [_temporary(training), _temporary(validation)]
    try:
        with source.open("rb") as stream, temporaries[0].open("wb") as train, temporaries[1].open("wb") as held:
            counts = _split_stream(stream, train=train, held=held, fraction=fraction, seed=seed, name=str(source))
        os.replace(temporaries[0], training)
        os.replace(temporaries[1], validation)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
    return counts


def _split_stream(
    stream: BinaryIO, *, train: BinaryIO, held: BinaryIO, fraction: float, seed: int, name: str
) -> SplitCounts:
    counts = {"training": 0, "validation": 0, "blank": 0}
    for raw in read_lines(stream, max_bytes=MAX_LINE_BYTES):
        if raw.oversize:
            raise UserError(f"{name}:{raw.number}:1: line longer than {MAX_LINE_BYTES:,} bytes; run `data validate`")
        if not raw.data.strip():
            counts["blank"] += 1
            continue
        if goes_to_validation(raw.data, seed=seed, fraction=fraction):
            held.write(raw.data + b"\n")
            counts["validation"] += 1
        else:
            train.write(raw.data + b"\n")
            counts["training"] += 1
    return SplitCounts(**counts)


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")
