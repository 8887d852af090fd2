"""`data split` (controller/datasets/split.py): a line goes to validation by sha256(seed, line) alone, so the
split is the same on any machine and in any order, duplicates stay together, and nothing half-written is
left when it fails."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from controller.datasets.split import bucket, default_outputs, split_file
from controller.errors import UserError


def _lines(count: int) -> list[bytes]:
    return [b'{"contents": [{"role": "user", "parts": [{"text": "q%d"}]}]}' % i for i in range(count)]


def _split(tmp_path: Path, lines: list[bytes], *, seed: int, fraction: float = 0.1) -> tuple[set[bytes], set[bytes]]:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(line + b"\n" for line in lines))
    train, held = default_outputs(source)
    split_file(source, training=train, validation=held, fraction=fraction, seed=seed)
    return set(train.read_bytes().splitlines()), set(held.read_bytes().splitlines())


def test_the_bucket_of_a_line_is_fixed_by_seed_and_content_on_every_machine() -> None:
    # Golden values: sha256(b"0\x00hello")[:8] / 2**64. A change here changes every user's split.
    assert bucket(b"hello", seed=0) == pytest.approx(0.1169856, abs=1e-7)
    assert bucket(b"hello", seed=1) != bucket(b"hello", seed=0)


def test_the_same_seed_gives_the_same_split_and_another_seed_another(tmp_path: Path) -> None:
    first = _split(tmp_path, _lines(2000), seed=7)
    again = _split(tmp_path, _lines(2000), seed=7)
    other = _split(tmp_path, _lines(2000), seed=8)
    assert first == again
    assert first[1] != other[1]


def test_reordering_the_file_moves_no_example_across(tmp_path: Path) -> None:
    lines = _lines(1000)
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    assert _split(tmp_path, lines, seed=1) == _split(tmp_path, shuffled, seed=1)


def test_the_validation_share_is_near_the_fraction_and_nothing_is_lost(tmp_path: Path) -> None:
    train, held = _split(tmp_path, _lines(5000), seed=0, fraction=0.1)
    assert len(train) + len(held) == 5000 and not train & held
    assert 400 <= len(held) <= 600


def test_duplicates_land_on_the_same_side(tmp_path: Path) -> None:
    source = tmp_path / "dup.jsonl"
    source.write_bytes(b"a\nb\na\n\nc\na\n")
    train, held = tmp_path / "t.jsonl", tmp_path / "v.jsonl"
    counts = split_file(source, training=train, validation=held, fraction=0.5, seed=0)
    sides = [side for side in (train, held) if b"a" in side.read_bytes().splitlines()]
    assert len(sides) == 1 and sides[0].read_bytes().splitlines().count(b"a") == 3
    assert (counts.training + counts.validation, counts.blank) == (5, 1)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 2.0])
def test_a_fraction_outside_zero_to_one_is_refused_before_anything_is_written(tmp_path: Path, fraction: float) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"a\n")
    with pytest.raises(UserError, match="between 0 and 1"):
        split_file(source, training=tmp_path / "t", validation=tmp_path / "v", fraction=fraction, seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_the_input_is_never_overwritten(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"a\n")
    with pytest.raises(UserError, match="overwrite the input"):
        split_file(source, training=source, validation=tmp_path / "v", fraction=0.5, seed=0)
    assert source.read_bytes() == b"a\n"
