"""The real Firestore emulator from the gcloud CLI, started on a free loopback port for a test module.

`gcloud emulators firestore start` runs a Java server; readiness is its HTTP root answering "Ok". The whole
process group is killed afterwards (gcloud starts the Java process as a child). In CI a missing gcloud is a
failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

READY_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=1) as reply:
            return bool(reply.status == 200 and reply.read().strip() == b"Ok")
    except OSError:
        return False


@contextmanager
def firestore_emulator() -> Iterator[str]:
    """Run the emulator; yields its HOST:PORT (the value for FIRESTORE_EMULATOR_HOST)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        if os.environ.get("CI"):
            pytest.fail("the gcloud CLI (with the Firestore emulator) is required in CI")
        pytest.skip("the gcloud CLI is not installed")
    host = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [gcloud, "emulators", "firestore", "start", f"--host-port={host}", "--quiet"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not _ready(host):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"the Firestore emulator did not start:\n{log.read().decode(errors='replace')}")
                time.sleep(0.25)
            yield host
        finally:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
