"""The systemd notify protocol, spoken directly: one datagram per state change to $NOTIFY_SOCKET.

Without NOTIFY_SOCKET (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

# A ping is sent when this much of its period has passed: the loop's checkpoints (grid points,
# the wake-up for the ping itself) rarely fall exactly on the due time, and a ping a little
# early is harmless where one late by a whole checkpoint would not be.
EARLY_PING = 0.8


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        self._address = address or None
        self._sock: socket.socket | None = None
        self._send_failed = False
        self._last_ping = -math.inf
        self.watchdog_interval: float | None = None  # seconds between pings, None: disabled
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process systemd expects pings from; an inherited environment
        # meant for a parent (a wrapper script, `systemd-run` of a shell) is not ours to feed.
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1e6 / 2  # half the timeout, as sd_watchdog(3)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *assignments: str) -> None:
        if self._address is None:
            return
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)
        try:
            self._sock.sendto("\n".join(assignments).encode(), self._address)
        except OSError as exc:  # systemd gone or socket full: never fatal for the daemon
            # Once loudly: a notify socket that never hears READY=1 ends in a start timeout,
            # and this line is the one that explains it.
            level = logging.DEBUG if self._send_failed else logging.WARNING
            log.log(level, "sd_notify to %s failed: %s", self._address.lstrip("\0"), exc)
            self._send_failed = True
        else:
            self._send_failed = False

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        # systemd ties the reload to this timestamp; CLOCK_MONOTONIC is the clock it reads.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    @property
    def next_ping(self) -> float:
        """When the next watchdog ping is due, on the clock `watchdog` is given; inf when the
        watchdog is off. The poll loop wakes up by then wherever it is waiting."""
        if self.watchdog_interval is None:
            return math.inf
        return self._last_ping + self.watchdog_interval

    def watchdog(self, now: float) -> None:
        """Ping the watchdog if it is on and the next ping is (nearly) due; `now` is the poll
        loop's clock (the event loop's time), which `next_ping` then follows."""
        if self.watchdog_interval is None:
            return
        if now - self._last_ping >= self.watchdog_interval * EARLY_PING:
            self._last_ping = now
            self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
