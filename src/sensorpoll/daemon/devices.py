"""Every configured device's poller and the buses they share; rebuilt in place on reload.

Used by the daemon's loop (`service`) and by `sensorpoll once`; knows nothing of signals.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Sequence

from sensorpoll.config.schema import DeviceConfig, Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.poller import STUCK_GRACE, DevicePoller, poll_cycle
from sensorpoll.drivers.base import Driver
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.registry import driver_class

log = logging.getLogger("sensorpoll")

_DEADLINE = operator.attrgetter("deadline")  # over every poller, every cycle: a pass in C
CLOSE_TIMEOUT = 1.0  # seconds one device may take to close its connection


def make_driver(config: DeviceConfig, buses: Buses) -> Driver[DeviceConfig]:
    return driver_class(config.driver)(config, buses)


class Devices:
    """Every configured device's poller, built from settings and rebuilt in place on reload."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.buses = Buses()
        shared = _shared_lines(settings)
        self.pollers: list[DevicePoller] = [
            DevicePoller(
                make_driver(d, self.buses),
                settings.deadline(d),
                settings.interval,
                shared=d.name in shared,
            )
            for d in settings.devices
        ]
        self.number = 0

    async def open(self) -> None:
        """Open every driver concurrently, each within its deadline; a device that cannot be
        opened now is only logged: its reads will fail and retry."""
        await _open_all(self.pollers)

    @property
    def longest_cycle(self) -> float:
        """How long a cycle can take at most: the slowest deadline, plus the backstop's grace
        for a read that ignores cancellation (poll_cycle)."""
        return max(map(_DEADLINE, self.pollers), default=0.0) + STUCK_GRACE

    async def cycle(self, overruns_total: int = 0, *, tick: int = 0) -> Cycle:
        """One poll at grid point `tick` (see `poll_cycle`)."""
        self.number += 1
        return await poll_cycle(self.pollers, self.number, overruns_total, tick=tick)

    async def apply(self, settings: Settings) -> None:
        """Swap in new settings between cycles. Devices whose config is unchanged keep their
        driver, connection and health (backoff included); removed or changed ones are closed,
        new or changed ones opened."""
        old = {p.name: p for p in self.pollers}
        pollers: list[DevicePoller] = []
        fresh: list[DevicePoller] = []
        shared = _shared_lines(settings)
        for device in settings.devices:
            kept = old.get(device.name)
            if kept is not None and kept.config == device:
                del old[device.name]
                kept.deadline = settings.deadline(device)
                kept.rebase(settings.interval)
                kept.shared = device.name in shared
                pollers.append(kept)
            else:
                driver = make_driver(device, self.buses)
                poller = DevicePoller(
                    driver,
                    settings.deadline(device),
                    settings.interval,
                    shared=device.name in shared,
                )
                pollers.append(poller)
                fresh.append(poller)
        # Everything that can refuse the new settings has run: from here the swap completes.
        self.pollers, self.settings = pollers, settings
        # Closed before the new ones open: a changed device reconnects to the same port.
        await asyncio.gather(*(_close(gone.driver) for gone in old.values()))
        in_use = {spec.key for d in settings.devices if (spec := d.bus()) is not None}
        try:
            await self.buses.aclose(keep=in_use)
        except Exception as exc:
            log.warning("closing a bus no longer in use failed: %s", exc)
        await _open_all(fresh)

    async def aclose(self) -> None:
        await asyncio.gather(*(_close(p.driver) for p in self.pollers))
        await self.buses.aclose()


def _shared_lines(settings: Settings) -> set[str]:
    """The devices that share their line (a serial port, a gateway) with another device."""
    by_line: dict[str, list[str]] = {}
    for device in settings.devices:
        spec = device.bus()
        if spec is not None:
            by_line.setdefault(spec.key, []).append(device.name)
    return {name for names in by_line.values() if len(names) > 1 for name in names}


async def _open_all(pollers: Sequence[DevicePoller]) -> None:
    async def open_one(p: DevicePoller) -> None:
        try:
            async with asyncio.timeout(p.deadline):
                await p.driver.open()
        except Exception as exc:
            log.warning("device %s could not be opened: %s", p.name, exc)

    await asyncio.gather(*(open_one(p) for p in pollers))


async def _close(driver: Driver[DeviceConfig]) -> None:
    # Bounded: a device that hangs while closing must not hold up a reload or the shutdown.
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await driver.aclose()
    except Exception as exc:
        log.warning("closing device %s failed: %s", driver.config.name, exc or "timeout")
