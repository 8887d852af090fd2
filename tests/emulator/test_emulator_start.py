"""`genaiops emulator start` refuses ports it cannot own: out of range, or already in use (by another
emulator, whose connections a second one on the same port would otherwise silently share)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controller.emulator.server import Emulator, running

REPO = Path(__file__).resolve().parents[2]


def _start(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "controller", "emulator", "start", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)


@pytest.mark.parametrize("flag", ["--port", "--rest-port", "--storage-port"])
def test_a_negative_port_is_refused_with_exit_1_and_no_traceback(flag: str) -> None:
    done = _start(flag, "-1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"Invalid value for '{flag}': -1 is not in the range 0<=x<=65535" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_second_emulator_on_a_port_in_use_refuses_to_start() -> None:
    with running(rest_port=None, storage_port=None) as first:
        done = _start("--port", str(first.grpc_port), "--rest-port", "0", "--storage-port", "0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot start the emulator: cannot listen on 127.0.0.1:{first.grpc_port}: the port is in use" in (
        done.stderr
    )
    assert "genaiops emulator running" not in done.stdout and "Traceback" not in done.stderr


def test_an_in_process_emulator_refuses_a_port_out_of_range_and_a_port_in_use() -> None:
    with pytest.raises(ValueError, match="port must be between 0 and 65535"):
        Emulator(port=-1)
    with pytest.raises(ValueError, match="storage_port must be between 0 and 65535"):
        Emulator(storage_port=70000)
    with running(rest_port=None, storage_port=None) as first:
        second = Emulator(port=first.grpc_port, rest_port=None, storage_port=None)
        with pytest.raises(OSError, match="the port is in use"):
            second.start()
