"""Finding and reading manifest files: the first step of a load (`controller.loader`).

Only regular files are read (`loader.files`): an entry named like a manifest that is a FIFO, a device, a
directory or a dangling symlink is an error, never silently skipped, so a load that misses something is
never mistaken for a complete one. A manifest file is at most `MAX_FILE_BYTES` of UTF-8 text.
"""

from __future__ import annotations

import os
from pathlib import Path

from controller.diagnostics import Diagnostic, Source
from controller.loader.files import FileRefusedError, not_regular, read_bytes

MAX_FILE_BYTES = 1024 * 1024
SUFFIXES = (".yaml", ".yml")


def discover(root: Path) -> tuple[list[Path], list[Diagnostic]]:
    """Manifest files under `root` (or `root` itself), sorted; hidden files and directories are skipped.

    An entry named `*.yaml` / `*.yml` that cannot be read as a manifest (a FIFO, a device, a directory, a
    dangling symlink) and a symlinked directory (never followed) are errors, not silently skipped: what
    they may declare would be missing from the load, and `--prune` would delete it. Nothing but a regular
    file is ever opened (opening a FIFO would block)."""
    problem = not_regular(root)
    if problem is None:
        return [root], []
    if root.is_dir():
        files, problems = _walk(root)
        if not files and not problems:
            problems.append(Diagnostic(f"no *.yaml or *.yml files under {root}", Source(str(root))))
        return files, problems
    if problem == "does not exist":
        return [], [Diagnostic(f"no such file or directory: {root}", Source(str(root)))]
    return [], [Diagnostic(f"it {problem}; give a manifest file or a directory of them", Source(str(root), 1, 1))]


def _walk(root: Path) -> tuple[list[Path], list[Diagnostic]]:
    files: list[Path] = []
    problems: list[Diagnostic] = []

    def refuse(path: Path, reason: str) -> None:
        problems.append(Diagnostic(reason, Source(str(path), 1, 1)))

    def unlistable(err: OSError) -> None:
        refuse(Path(err.filename or root), f"not loaded: cannot list this directory: {err.strerror or err}")

    for current, dirs, names in os.walk(root, onerror=unlistable):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in list(dirs):
            path = here / name
            if path.is_symlink():  # os.walk never follows it: what it holds would be silently left out
                dirs.remove(name)
                refuse(
                    path,
                    "not loaded: it is a symlink to a directory, and genaiops does not follow those; move the "
                    "manifests here or run genaiops on that directory",
                )
            elif name.endswith(SUFFIXES):
                refuse(path, "a directory named like a manifest file; rename it (the files inside it are loaded)")
        for name in sorted(names):
            if name.startswith(".") or not name.endswith(SUFFIXES):
                continue
            path = here / name
            problem = not_regular(path)
            if problem is None:
                files.append(path)
            else:
                refuse(path, f"not loaded: it {problem}; manifest files must be regular files")
    return sorted(files), problems


def read_manifest(path: Path) -> tuple[str | None, Diagnostic | None]:
    """The text of a manifest file, or why it cannot be read (too large, binary, not UTF-8, unreadable)."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, Diagnostic(
                f"file is {size / 1024 / 1024:.1f} MiB; manifests are limited to {MAX_FILE_BYTES // 1024} KiB",
                Source(name, 1, 1),
            )
        data = read_bytes(path, limit=MAX_FILE_BYTES)
    except OSError as err:
        return None, Diagnostic(f"cannot read file: {err.strerror or err}", Source(name))
    except FileRefusedError as err:
        return None, Diagnostic(f"cannot read file: it {err.reason}", Source(name))
    if b"\x00" in data:
        return None, Diagnostic("binary file: manifests must be UTF-8 text", Source(name, 1, 1))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return None, Diagnostic(f"not UTF-8 text (byte {err.start})", Source(name, line, 1))
    return text, None
