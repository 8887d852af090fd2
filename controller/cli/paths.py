"""Checks on the paths the CLI takes, made while the command line is parsed: a bad path is a clear error
(exit 1) before anything runs (before a target is opened or a lock taken), never a traceback.

Click parameter types:
- `OutputFile`: a file the command writes (plan --out, --audit-log, prompts test --junit-xml, prompts
  snapshot --out). It must not be a directory, a FIFO or a device (unless `special_ok`, for an audit log
  sent to /dev/null), and its directory must exist or be creatable.
- `OutputDir`: a directory the command creates or writes into (--state-dir, schema --out, --cache-dir).
  It must be a directory, or not exist yet under a directory.
- `InputFile`: a file the command reads (prompts render --vars): an existing regular file of bounded size.

These checks only look (stat, access); `prepare_output_file` goes one step further for a file written
later, under a lock (the audit log): it creates the directory and opens the file for appending, so that a
path such as /proc/x/y fails here and not half-way through an apply.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import click

from controller.errors import UserError
from controller.loader.files import kind_of

MAX_INPUT_BYTES = 1024 * 1024


class PathError(click.BadParameter):
    """A path the command cannot use; exit code 1 (2 means 'changes present' for genaiops)."""

    exit_code = 1


def _mode(path: Path) -> int | None:
    """The file mode `path` resolves to, or None when nothing is there (a dangling symlink included)."""
    try:
        return os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


def _creatable(path: Path) -> str | None:
    """Why `path` (which does not exist) cannot be created, else None: its nearest existing ancestor must
    be a directory this process may write into."""
    current = path.parent
    while True:
        mode = _mode(current)
        if mode is not None:
            break
        if current.parent == current:
            return f"cannot create {path}: no part of its path exists"
        current = current.parent
    if not stat.S_ISDIR(mode):
        return f"cannot create {path}: {current} is {kind_of(mode)}, not a directory"
    if not os.access(current, os.W_OK | os.X_OK):
        return f"cannot create {path}: {current} is not writable"
    return None


def output_file_problem(path: Path, *, special_ok: bool = False) -> str | None:
    """Why the command cannot write the file `path`, else None."""
    if path.is_symlink() and _mode(path) is None:
        return f"{path} is a symlink to a missing file ({os.readlink(path)})"
    mode = _mode(path)
    if mode is None:
        return _creatable(path)
    if stat.S_ISDIR(mode):
        return f"{path} is a directory; give the path of a file"
    if not stat.S_ISREG(mode) and not (special_ok and stat.S_ISCHR(mode)):
        return f"{path} is {kind_of(mode)}, not a regular file"
    if not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None


def output_dir_problem(path: Path, *, writable: bool = True) -> str | None:
    """Why the command cannot use `path` as a directory it creates or writes into, else None."""
    if path.is_symlink() and _mode(path) is None:
        return f"{path} is a symlink to a missing directory ({os.readlink(path)})"
    mode = _mode(path)
    if mode is None:
        return _creatable(path) if writable else None
    if not stat.S_ISDIR(mode):
        return f"{path} is {kind_of(mode)}, not a directory"
    if writable and not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is a directory this process cannot write into"
    return None


def input_file_problem(path: Path, *, limit: int = MAX_INPUT_BYTES) -> str | None:
    """Why the command cannot read the file `path`, else None."""
    if path.is_symlink() and _mode(path) is None:
        return f"{path} is a symlink to a missing file ({os.readlink(path)})"
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return f"{path} does not exist"
    except OSError as err:
        return f"cannot read {path}: {err.strerror or err}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is {kind_of(info.st_mode)}, not a regular file"
    if info.st_size > limit:
        return f"{path} is larger than {limit // 1024} KiB"
    if not os.access(path, os.R_OK):
        return f"{path} is not readable"
    return None


class _PathType(click.ParamType[Path, Any]):
    name = "path"

    def problem(self, path: Path) -> str | None:
        raise NotImplementedError

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = value if isinstance(value, Path) else Path(os.fsdecode(value))
        found = self.problem(path)
        if found is not None:
            raise PathError(found, ctx=ctx, param=param)
        return path


class OutputFile(_PathType):
    """A file the command writes; see the module docstring."""

    name = "file"

    def __init__(self, *, special_ok: bool = False) -> None:
        self.special_ok = special_ok

    def problem(self, path: Path) -> str | None:
        return output_file_problem(path, special_ok=self.special_ok)


class OutputDir(_PathType):
    """A directory the command creates or writes into; see the module docstring."""

    name = "directory"

    def __init__(self, *, writable: bool = True) -> None:
        self.writable = writable

    def problem(self, path: Path) -> str | None:
        return output_dir_problem(path, writable=self.writable)


class InputFile(_PathType):
    """A regular file the command reads, at most `limit` bytes."""

    name = "file"

    def __init__(self, *, limit: int = MAX_INPUT_BYTES) -> None:
        self.limit = limit

    def problem(self, path: Path) -> str | None:
        return input_file_problem(path, limit=self.limit)


def check_store_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for --prompt-store: `gs://...` is left to the store; a local directory must be a
    directory, or not exist yet under one (writing needs more, and is reported when it fails)."""
    if value and not value.startswith("gs://"):
        problem = output_dir_problem(Path(value), writable=False)
        if problem is not None:
            raise PathError(problem, ctx=ctx, param=param)
    return value


def prepare_output_file(path: Path, *, what: str) -> None:
    """Create the directory of `path` and open the file for appending (never blocking on a FIFO), so that a
    file that cannot be written fails now, with a clear UserError, and not later under a lock."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
    except OSError as err:
        where = f" ({err.filename})" if err.filename and str(err.filename) != str(path) else ""
        raise UserError(f"cannot write the {what} {path}: {err.strerror or err}{where}") from err
    try:
        mode = os.fstat(fd).st_mode
    finally:
        os.close(fd)
    if stat.S_ISDIR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise UserError(f"cannot write the {what} {path}: it is {kind_of(mode)}, not a regular file")


__all__ = [
    "InputFile",
    "OutputDir",
    "OutputFile",
    "PathError",
    "check_store_url",
    "input_file_problem",
    "output_dir_problem",
    "output_file_problem",
    "prepare_output_file",
]
