"""Shared by the benchmark scripts: an emulator in its own process, so that the controller measured in
the benchmark does not share a Python interpreter (and its lock) with the server it talks to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENAIOPS_", "GOOGLE_CLOUD_PROJECT"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


@contextmanager
def emulator_process(workdir: Path, *extra: str) -> Iterator[str]:
    """`genaiops emulator start --port 0` in a child process; yields its gRPC HOST:PORT."""
    log = workdir / "emulator.out"
    with log.open("wb") as out:
        argv = [sys.executable, "-m", "controller", "emulator", "start", "--port", "0", "--rest-port", "0", *extra]
        child = subprocess.Popen(argv, cwd=workdir, env=child_env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while (found := re.search(r"gRPC\s+(\S+:\d+)", log.read_text(errors="replace"))) is None:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the emulator did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.05)
            yield found.group(1)
        finally:
            child.terminate()
            child.wait(timeout=10)
