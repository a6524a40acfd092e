"""The Notifier on its own: what it sends for each state, and that it never gets in the way."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorpoll.daemon.notify import Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(1)
        yield address, sock


def test_without_notify_socket_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready("x")
    notifier.watchdog(time.monotonic())
    notifier.close()


def test_ready_carries_the_status_in_the_same_datagram(
    notify_socket: tuple[str, socket.socket],
) -> None:
    address, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    notifier.ready("3 devices, polling")
    notifier.close()
    assert sock.recv(4096) == b"READY=1\nSTATUS=3 devices, polling"


def test_watchdog_period_is_half_of_watchdog_usec_for_this_process() -> None:
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "30000000"}
    assert Notifier(env).watchdog_interval == 15.0
    assert Notifier({**env, "WATCHDOG_PID": str(os.getpid())}).watchdog_interval == 15.0
    assert Notifier({**env, "WATCHDOG_PID": str(os.getpid() + 1)}).watchdog_interval is None
    assert Notifier({**env, "WATCHDOG_USEC": "0"}).watchdog_interval is None


def test_watchdog_does_not_ping_again_before_the_period_is_mostly_over(
    notify_socket: tuple[str, socket.socket],
) -> None:
    address, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "10000000"})
    notifier.watchdog(100.0)
    notifier.watchdog(100.1)  # a checkpoint right after: not due, so not sent
    notifier.watchdog(104.0)  # past EARLY_PING of the 5 s period: due
    notifier.close()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sock.recv(4096) == b"WATCHDOG=1"
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    assert notifier.next_ping == 104.0 + 5.0  # on the clock it was given


def test_a_failing_notify_socket_is_logged_once_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with caplog.at_level(logging.DEBUG, logger="sensorpoll.daemon.notify"):
        notifier.status("a")
        notifier.status("b")
    notifier.close()
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG]
