"""Reading files on the host safely: manifests, and the template and response files manifests name.

Everything genaiops reads because a manifest (or a directory listing) says so goes through here, so that
the rules hold in one place:

- a file is opened without blocking (`O_NONBLOCK`) and read only when the open descriptor is a regular
  file: a FIFO, a device or a directory named `*.yaml` is refused, never read (opening a FIFO would block,
  `/dev/zero` would never end);
- at most `limit` bytes are read;
- a file a manifest names (`templateFile`, `responseFile`) is a relative path that, once resolved
  (symlinks included), stays inside the manifests root: the PATH given to the command, or the directory
  of that file when PATH is a single file. Anyone who can commit a manifest must not be able to copy the
  controller's files (`/etc/...`, credentials) into a prompt store.

Each refusal says which rule was broken.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefusedError(Exception):
    """A file that is not read; `reason` says which rule it breaks (for a diagnostic or an error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def kind_of(mode: int) -> str:
    """`a directory`, `a FIFO (named pipe)`, ... for a file mode that is not a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def not_regular(path: Path) -> str | None:
    """Why `path` is not something genaiops reads as a file (checked without opening it), else None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if path.is_symlink():
            return f"is a symlink to a missing file ({os.readlink(path)})"
        return "does not exist"
    except NotADirectoryError:
        return "does not exist (a part of its path is a file, not a directory)"
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    if stat.S_ISREG(mode):
        return None
    through = " (through a symlink)" if path.is_symlink() else ""
    return f"is {kind_of(mode)}{through}, not a regular file"


def read_bytes(path: Path, *, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; raises FileRefusedError (never blocks)."""
    problem = not_regular(path)
    if problem is not None:
        raise FileRefusedError(problem)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise FileRefusedError(f"cannot be read: {err.strerror or err}") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped for something else since the check above
            raise FileRefusedError(f"is {kind_of(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise FileRefusedError(f"is {_size(info.st_size)}; the limit is {_size(limit)}")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1024 * 1024):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew since fstat
                raise FileRefusedError(f"is larger than the limit of {_size(limit)}")
        return b"".join(chunks)
    except OSError as err:
        if err.errno == errno.EISDIR:
            raise FileRefusedError("is a directory, not a regular file") from err
        raise FileRefusedError(f"cannot be read: {err.strerror or err}") from err
    finally:
        os.close(fd)


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / 1024 / 1024:.1f} MiB"
    if count >= 1024:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def manifests_root(path: Path) -> Path:
    """The directory files named by manifests must stay inside: PATH itself, or a single file's directory."""
    return path if path.is_dir() else path.parent


@dataclass(frozen=True)
class LocalFile:
    """A file a manifest names, resolved and read: `path` as the user wrote it (for messages), `text`."""

    path: Path
    text: str


def resolve_local(relative: str, *, manifest_file: str, root: Path) -> Path:
    """The file `relative` (as written in the manifest at `manifest_file`) names, once it is checked to be
    a relative path whose real location (symlinks resolved) lies inside `root`; raises FileRefusedError."""
    if not relative:
        raise FileRefusedError("is empty")
    if "\x00" in relative:
        raise FileRefusedError("contains a NUL character")
    if os.path.isabs(relative):
        raise FileRefusedError("is an absolute path; give a path relative to the manifest, inside the manifests root")
    candidate = Path(manifest_file).parent / relative
    real_root = Path(os.path.realpath(root))
    lexical = Path(os.path.abspath(candidate))
    if not _inside(lexical, Path(os.path.abspath(root))) and not _inside(lexical, real_root):
        raise FileRefusedError(f"leaves the manifests root {str(root)!r} (files must stay inside it)")
    real = Path(os.path.realpath(candidate))
    if not _inside(real, real_root):
        raise FileRefusedError(
            f"resolves through a symlink to {str(real)!r}, outside the manifests root {str(root)!r} "
            "(files must stay inside it)"
        )
    return candidate


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def read_local(relative: str, *, manifest_file: str, root: Path, limit: int) -> LocalFile:
    """Resolve (see `resolve_local`) and read a UTF-8 text file a manifest names; raises FileRefusedError."""
    path = resolve_local(relative, manifest_file=manifest_file, root=root)
    data = read_bytes(path, limit=limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FileRefusedError(f"is not UTF-8 text (byte {err.start})") from err
    return LocalFile(path, text)
