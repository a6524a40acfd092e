"""A wedged poll loop must stop feeding the watchdog, so systemd kills and restarts it
(docs/deploy.md, `WatchdogSec=`). In-process: no simulated device can wedge a
cycle (every read has a deadline and poll_cycle a backstop), so the cycle itself is replaced
by one that never ends, standing for a bug in the loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from sensorpoll.cli import load
from sensorpoll.daemon import service
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.notify import Notifier

CONFIG = """\
interval: 200ms
devices:
  - {name: a, driver: simulated, fields: [{name: x, value: 1}]}
"""


async def receive_pings(sock: socket.socket, pings: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.sock_recv(sock, 4096)
        if b"WATCHDOG=1" in data.split(b"\n"):
            pings.append(time.monotonic())


async def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def cpu_share(work: Coroutine[Any, Any, None]) -> float:
    """The share of one core this process used while `work` ran."""
    cpu, wall = time.process_time(), time.monotonic()
    await work
    return (time.process_time() - cpu) / (time.monotonic() - wall)


async def test_watchdog_pings_stop_and_the_loop_idles_when_a_cycle_wedges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "WEDGED_MARGIN", 0.3)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.setblocking(False)
        notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"})
        daemon = service.Daemon(load(config), [], lambda: load(config), notifier)
        wedged_at: list[float] = []

        async def wedged_cycle(overruns_total: int = 0, *, tick: int = 0) -> Cycle:
            wedged_at.append(time.monotonic())  # the clock the pings are stamped with
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        monkeypatch.setattr(daemon.devices, "cycle", wedged_cycle)
        pings: list[float] = []
        receiver = asyncio.create_task(receive_pings(sock, pings))
        runner = asyncio.create_task(daemon.run())
        try:
            await asyncio.sleep(1.0)
            wedged_share = await cpu_share(asyncio.sleep(1.0))  # past the feeding limit by now
            assert wedged_at, "no cycle started"
            # fed while the cycle could still be legitimately running: deadline 160 ms,
            # backstop 50 ms, margin 300 ms; then silence, for systemd to act on
            feed_until = wedged_at[0] + daemon.devices.longest_cycle + 0.3
            during = [t for t in pings if wedged_at[0] <= t]
            assert [t for t in during if t < feed_until], "no ping while the cycle could run"
            period = notifier.watchdog_interval
            assert period is not None
            assert not [t for t in during if t > feed_until + period], (during, feed_until)
            # waiting to be killed, not spinning on a ping deadline already past: a small
            # share of what a busy loop gets on this machine right now
            spin_share = await cpu_share(spin(0.5))
            assert wedged_share < spin_share / 4, (wedged_share, spin_share)
        finally:
            daemon.stop()
            await asyncio.wait_for(runner, 3)
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
