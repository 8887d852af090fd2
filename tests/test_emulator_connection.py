"""Connecting to a running emulator (`providers/connections.py`) and the lease a killed process leaves.

The emulator is found from its gRPC address alone, in the caller's own spelling; an address nothing
answers on fails in seconds with a message naming it; a lease whose holder was killed on this machine is
taken at once, while one held by a live process, or by a process we cannot see, waits for its expiry.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent import futures
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from controller.emulator.server import running
from controller.errors import LockedError, UserError
from controller.providers.connections import connect_emulator, emulator_storage_client, ensure_bucket, lease
from controller.providers.lock_record import holder_is_gone, new_record, pid_scope

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_emulator_tells_a_client_where_its_storage_is_in_the_clients_own_spelling() -> None:
    with running(project="p1", location="europe-west4", rest_port=None) as emulator:
        for host in ("127.0.0.1", "localhost"):
            channel, info = connect_emulator(f"grpc://{host}:{emulator.grpc_port}")
            channel.close()
            assert info.address == f"{host}:{emulator.grpc_port}"
            assert (info.project, info.location) == ("p1", "europe-west4")
            assert info.storage_url == f"http://{host}:{emulator.storage_port}"


def test_a_port_nothing_listens_on_fails_within_the_connect_timeout_naming_the_address() -> None:
    address = f"127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(UserError, match=f"cannot connect to the emulator at {address}: nothing answered"):
        connect_emulator(address, timeout_s=1.0)
    assert time.monotonic() - started < 3.0


def test_a_grpc_server_that_is_not_a_genaiops_emulator_is_named_as_such() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(UserError, match="answers but is not a genaiops emulator"):
            connect_emulator(f"127.0.0.1:{port}")
    finally:
        server.stop(None)


def test_an_address_without_a_port_is_refused_as_a_usage_mistake() -> None:
    with pytest.raises(UserError, match="--emulator must be HOST:PORT"):
        connect_emulator("localhost")


def test_an_emulator_without_storage_cannot_hold_the_lease_and_says_so() -> None:
    with running(rest_port=None, storage_port=None) as emulator:
        channel, info = connect_emulator(emulator.grpc_target)
        channel.close()
    assert info.storage_url is None
    with pytest.raises(UserError, match="serves no Cloud Storage"):
        emulator_storage_client(info, project="local-project")


def test_leases_reached_through_two_spellings_exclude_each_other() -> None:
    with running(rest_port=None) as emulator:
        leases = []
        for host in ("127.0.0.1", "localhost"):
            channel, info = connect_emulator(f"{host}:{emulator.grpc_port}")
            channel.close()
            client = emulator_storage_client(info, project="local-project")
            ensure_bucket(client, "local-project-genaiops")  # the second call finds it there
            leases.append(lease(client, bucket="local-project-genaiops", project="local-project"))
        lock_id = leases[0].acquire(owner="first", wait_s=0)
        with pytest.raises(LockedError, match="held by first"):
            leases[1].acquire(owner="second", wait_s=0)
        leases[0].release(lock_id)
        leases[1].release(leases[1].acquire(owner="second", wait_s=0))


CHILD = """
import sys
from controller.providers.connections import connect_emulator, emulator_storage_client, lease
channel, info = connect_emulator(sys.argv[1])
held = lease(emulator_storage_client(info, project="p"), bucket="p-genaiops", project="p")
print(held.acquire(owner="child apply", wait_s=5), flush=True)
sys.stdin.read()
"""


def test_a_lease_whose_process_was_killed_is_taken_at_once_and_a_live_ones_is_not() -> None:
    with running(rest_port=None) as emulator:
        channel, info = connect_emulator(emulator.grpc_target)
        channel.close()
        client = emulator_storage_client(info, project="p")
        ensure_bucket(client, "p-genaiops")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, emulator.grpc_target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            child_id = child.stdout.readline().strip()
            mine = lease(client, bucket="p-genaiops", project="p")
            with pytest.raises(LockedError, match="held by child apply") as refused:
                mine.acquire(owner="parent", wait_s=0.2)
            assert refused.value.lock_id == child_id

            child.send_signal(signal.SIGKILL)  # no release: the lease object stays, unexpired for two minutes
            child.wait(timeout=10)
            started = time.monotonic()
            lock_id = mine.acquire(owner="parent", wait_s=0)
            assert time.monotonic() - started < 2.0
            assert (mine.holder() or {})["owner"] == "parent"
            mine.release(lock_id)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_a_holder_is_judged_gone_only_within_our_pid_scope() -> None:
    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_pid.wait()
    record = new_record(owner="x", target="t", now=0.0, ttl_s=120)
    if not pid_scope():
        pytest.skip("no pid scope on this platform: holders are judged by expiry only")
    assert not holder_is_gone(record)  # ourselves
    assert holder_is_gone(replace(record, pid=dead_pid.pid))
    assert not holder_is_gone(replace(record, pid=dead_pid.pid, pid_scope="another-boot/pid:[1]"))
    assert not holder_is_gone(replace(record, pid=dead_pid.pid, pid_scope=""))  # an old record: unknown
    assert not holder_is_gone(replace(record, pid=0))
