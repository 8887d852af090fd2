"""Writing planned text edits into manifest files: the one place `models outdated --write` touches disk.

Every file is checked before any is written: it must resolve (symlinks included) to a regular file inside
the manifests root, and each edit must match the text at its position (`engine.model_upgrades.edit_text`).
Any refusal raises `ManifestEditError` and nothing is written. Then each file is replaced atomically (a
temporary file beside it, flushed, given the original's mode, then `os.replace`d over it), so a reader
never sees half a file. Bytes other than the edited values stay as they were (a UTF-8 byte order mark
included); the change then goes through review, `genaiops plan` and the prompt canary like any other edit.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from controller.engine.model_upgrades import EditRefusedError, TextEdit, edit_text
from controller.errors import UserError
from controller.loader.discovery import MAX_FILE_BYTES
from controller.loader.files import FileRefusedError, manifests_root, read_bytes

_BOM = b"\xef\xbb\xbf"


class ManifestEditError(UserError):
    """An edit that may not be made; nothing was written."""


def inside_root(file: Path, root: Path) -> Path:
    """`file` resolved, when it lies inside `root` (resolved too); ManifestEditError otherwise."""
    resolved, base = file.resolve(), root.resolve()
    if not resolved.is_relative_to(base):
        raise ManifestEditError(f"{file} is outside the manifests root {root}: refusing to edit it")
    return resolved


def _edited(target: Path, edits: Sequence[TextEdit]) -> bytes:
    try:
        data = read_bytes(target, limit=MAX_FILE_BYTES)
    except FileRefusedError as err:
        raise ManifestEditError(f"{edits[0].file}: cannot edit it: it {err.reason}") from err
    bom = _BOM if data.startswith(_BOM) else b""
    try:
        text = data[len(bom) :].decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestEditError(f"{edits[0].file}: not UTF-8 text (byte {err.start}): refusing to edit it") from err
    try:
        return bom + edit_text(text, edits).encode("utf-8")
    except EditRefusedError as err:
        raise ManifestEditError(str(err)) from err


def write_atomically(target: Path, data: bytes) -> None:
    """Replace `target` with `data` in one step, keeping its permission bits."""
    mode = stat.S_IMODE(target.stat().st_mode)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def apply_edits(edits: Sequence[TextEdit], *, manifests: Path) -> tuple[TextEdit, ...]:
    """Write `edits` into their files under the manifests root of `manifests` (the PATH the command loaded);
    the edits made, in order. ManifestEditError (nothing written) when a file is outside the root, cannot be
    read, or does not hold the expected value at an edit's position."""
    root = manifests_root(manifests)
    by_file: dict[str, list[TextEdit]] = {}
    for edit in edits:
        by_file.setdefault(edit.file, []).append(edit)
    planned: list[tuple[Path, bytes]] = []
    for file, group in by_file.items():
        target = inside_root(Path(file), root)
        planned.append((target, _edited(target, group)))
    written: list[str] = []
    for target, data in planned:
        try:
            write_atomically(target, data)
        except OSError as err:
            done = f" (already written: {', '.join(written)})" if written else " (nothing was written)"
            raise ManifestEditError(f"cannot write {target}: {err.strerror or err}{done}") from err
        written.append(str(target))
    return tuple(edits)


__all__ = ["ManifestEditError", "apply_edits", "inside_root", "write_atomically"]
