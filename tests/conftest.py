"""Shared fixtures. Every test fails if it leaves a thread or an open file descriptor behind
(as pymodbus's own `_check_system_health` does)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _open_fds() -> set[int]:
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the fd of the listdir itself, closed meanwhile
        if not target.startswith("/dev/pts") or fd > 2:
            fds.add(fd)
    return fds


# Which event loop the tests run on: SENSORPOLL_TEST_LOOP=uvloop or asyncio (the default). CI
# runs the loop-sensitive tests on both (.ci/run); `sensorpoll` started by a test gets the same
# loop through `--event-loop` (sensorpoll_cmd).
TEST_LOOP = os.environ.get("SENSORPOLL_TEST_LOOP", "asyncio")


def pytest_configure(config: pytest.Config) -> None:
    try:
        import uvloop
    except ImportError:
        return
    # libuv opens process-wide pipes with its first loop; open them before any leak check
    uvloop.new_event_loop().close()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    if TEST_LOOP == "uvloop":
        import uvloop

        return {"uvloop": uvloop.new_event_loop}
    if TEST_LOOP != "asyncio":
        raise pytest.UsageError(f"SENSORPOLL_TEST_LOOP={TEST_LOOP}: uvloop or asyncio")
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    threads = set(threading.enumerate())
    fds = _open_fds()
    yield
    deadline = time.monotonic() + 2.0
    while True:  # closing can finish a moment after the test (executor threads, transports)
        new_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
        new_fds = {
            fd: os.readlink(f"/proc/self/fd/{fd}")
            for fd in _open_fds() - fds
            if os.path.exists(f"/proc/self/fd/{fd}")
        }
        if not new_threads and not new_fds:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = []
    if new_threads:
        problems.append(f"threads left running: {[t.name for t in new_threads]}")
    if new_fds:
        problems.append(f"file descriptors left open: {new_fds}")
    pytest.fail("; ".join(problems))


@pytest.fixture
def sensorpoll_cmd() -> list[str]:
    """The installed console script, run as a separate process like a user would."""
    return [sys.executable, "-m", "sensorpoll"]


def require_tool(name: str) -> str:
    """The path of an external program a test drives for real.

    Missing, the test skips on a developer's machine but fails under CI=true: CI installs every
    tool (.ci/run), so a missing one there is a broken CI image, not a reason to pass.
    """
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}, and CI must run this test")
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (for programs that cannot take 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
