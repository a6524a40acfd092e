"""A wedged poll loop must stop feeding the watchdog, so systemd kills and restarts it
(PRODUCT.md: "a stalled loop gets restarted"). In-process: no simulated device can wedge a
cycle (every read has a deadline and poll_cycle a backstop), so the cycle itself is replaced
by one that never ends, standing for a bug in the loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

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
            wedged_at.append(time.monotonic())
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        monkeypatch.setattr(daemon.poller, "cycle", wedged_cycle)
        pings: list[float] = []
        receiver = asyncio.create_task(receive_pings(sock, pings))
        runner = asyncio.create_task(daemon.run())
        try:
            await asyncio.sleep(1.0)
            cpu_before = time.process_time()
            await asyncio.sleep(1.0)  # wedged past the feeding limit by now
            cpu_spent = time.process_time() - cpu_before
            assert wedged_at, "no cycle started"
            # fed while the cycle could still be legitimately running: deadline 160 ms,
            # backstop 50 ms, margin 300 ms; then silence, for systemd to act on
            feed_until = wedged_at[0] + daemon.poller.longest_cycle + 0.3
            during = [t for t in pings if wedged_at[0] <= t]
            assert during, "no ping at all while the cycle ran"
            assert max(during) <= feed_until + 0.05, (during, feed_until)
            assert time.monotonic() - max(during) > 1.0
            # waiting to be killed, not spinning on a ping deadline already past
            assert cpu_spent < 0.3, f"{cpu_spent:.2f}s of CPU in 1s while wedged"
        finally:
            daemon.stop()
            await asyncio.wait_for(runner, 3)
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
