"""The daemon: poll on the grid forever, publish each cycle, reload on SIGHUP, stop on SIGTERM.

Publishers (HTTP exposition, sinks) are passed in; the daemon never imports export.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from sensorpoll.config.errors import ConfigError
from sensorpoll.config.schema import DeviceConfig, Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.notify import Notifier
from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.daemon.schedule import Grid
from sensorpoll.drivers.base import Driver
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.registry import driver_class

log = logging.getLogger("sensorpoll")

SHUTDOWN_GRACE = 2.0  # seconds the current cycle and closing connections get on SIGTERM


class Publisher(Protocol):
    """Something that takes every finished cycle: the HTTP exposition, a jsonl sink."""

    async def start(self) -> None: ...
    def publish(self, cycle: Cycle) -> None: ...
    async def reconfigure(self, settings: Settings) -> None: ...
    async def reopen(self) -> None: ...
    async def aclose(self) -> None: ...


def make_driver(config: DeviceConfig, buses: Buses) -> Driver[DeviceConfig]:
    return driver_class(config.driver)(config, buses)


class Poller:
    """Every device's poller, built from settings and rebuilt in place on reload."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.buses = Buses()
        self.pollers: list[DevicePoller] = [
            DevicePoller(make_driver(d, self.buses), settings.deadline(d), settings.interval)
            for d in settings.devices
        ]
        self.number = 0

    async def open(self) -> None:
        """Open every driver concurrently, each within its deadline; a device that cannot be
        opened now is only logged: its reads will fail and retry."""

        async def open_one(p: DevicePoller) -> None:
            try:
                async with asyncio.timeout(p.deadline):
                    await p.driver.open()
            except Exception as exc:
                log.warning("device %s could not be opened: %s", p.name, exc)

        await asyncio.gather(*(open_one(p) for p in self.pollers))

    async def cycle(self, overruns_total: int = 0) -> Cycle:
        self.number += 1
        return await poll_cycle(self.pollers, self.number, overruns_total)

    async def apply(self, settings: Settings) -> None:
        """Swap in new settings between cycles. Devices whose config is unchanged keep their
        driver, connection and health; removed or changed ones are closed."""
        old = {p.name: p for p in self.pollers}
        pollers: list[DevicePoller] = []
        for device in settings.devices:
            kept = old.get(device.name)
            if kept is not None and kept.config == device:
                del old[device.name]
                kept.deadline, kept.interval = settings.deadline(device), settings.interval
                pollers.append(kept)
            else:
                driver = make_driver(device, self.buses)
                pollers.append(DevicePoller(driver, settings.deadline(device), settings.interval))
        for gone in old.values():
            await _close(gone.driver)
        in_use = {spec.key for d in settings.devices if (spec := d.bus()) is not None}
        await self.buses.aclose(keep=in_use)
        self.pollers, self.settings = pollers, settings

    async def aclose(self) -> None:
        await asyncio.gather(*(_close(p.driver) for p in self.pollers))
        await self.buses.aclose()


async def _close(driver: Driver[DeviceConfig]) -> None:
    try:
        await driver.aclose()
    except Exception as exc:
        log.warning("closing device %s failed: %s", driver.config.name, exc)


def status_line(cycle: Cycle) -> str:
    up = sum(1 for d in cycle.devices if d.ok)
    return f"{len(cycle.devices)} devices, {up} up, last cycle {cycle.duration_s * 1000:.0f} ms"


class Daemon:
    """`sensorpoll run`: the poll loop plus signals, reload and systemd notification."""

    def __init__(
        self,
        settings: Settings,
        publishers: Sequence[Publisher],
        reload_settings: Callable[[], Settings],
        notifier: Notifier | None = None,
    ) -> None:
        self.poller = Poller(settings)
        self.publishers = list(publishers)
        self._reload_settings = reload_settings
        self.notifier = notifier or Notifier()
        self._stop = asyncio.Event()
        self._reload_requested = False
        self._wake = asyncio.Event()
        self.grid: Grid | None = None

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        signals = {signal.SIGTERM: self.stop, signal.SIGINT: self.stop}
        signals[signal.SIGHUP] = self.request_reload
        for signum, handler in signals.items():
            loop.add_signal_handler(signum, handler)
        try:
            await self._run()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            self.notifier.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        started: list[Publisher] = []
        try:
            for publisher in self.publishers:
                await publisher.start()
                started.append(publisher)
            await self.poller.open()
            # Startup objects live for the daemon's life: keep them out of GC scans, which
            # otherwise add milliseconds of jitter to cycle starts with thousands of devices.
            gc.collect()
            gc.freeze()
            settings = self.poller.settings
            self.notifier.ready(f"{len(settings.devices)} devices, polling")
            log.info("polling %d devices every %gs", len(settings.devices), settings.interval)
            self.grid = Grid.aligned(settings.interval, loop.time())
            while not self._stop.is_set():
                await self._sleep_until_next_point()
                if self._stop.is_set():
                    break
                if self._reload_requested:
                    await self._reload()
                    continue
                cycle_task = loop.create_task(self.poller.cycle(self.grid.overruns))
                stop_task = loop.create_task(self._stop.wait())
                await asyncio.wait({cycle_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
                stop_task.cancel()
                if not cycle_task.done():  # stopping: the cycle gets the grace, no more
                    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                        await asyncio.wait_for(cycle_task, SHUTDOWN_GRACE / 2)
                    if not cycle_task.done():
                        break
                cycle = cycle_task.result()
                for publisher in self.publishers:
                    try:
                        publisher.publish(cycle)
                    except Exception:
                        log.exception("publishing cycle %d failed", cycle.number)
                self.notifier.status(status_line(cycle))
                if self.grid.advance(loop.time()):
                    log.warning(
                        "cycle %d took %.3fs, longer than the %gs interval; skipping ahead",
                        cycle.number,
                        cycle.duration_s,
                        self.grid.interval,
                    )
        finally:
            self.notifier.stopping()
            log.info("stopping")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_GRACE):
                    await self.poller.aclose()
            for publisher in reversed(started):
                try:
                    await publisher.aclose()
                except Exception:
                    log.exception("closing %s failed", type(publisher).__name__)
            gc.unfreeze()

    async def _sleep_until_next_point(self) -> None:
        """Sleep until the next grid point, pinging the watchdog at its interval meanwhile;
        a stop or reload request wakes it early."""
        assert self.grid is not None
        loop = asyncio.get_running_loop()
        ping = self.notifier.watchdog_interval
        while True:
            self.notifier.watchdog()  # from the poll loop itself: a wedged loop stops pinging
            delay = self.grid.next_point - loop.time()
            if delay <= 0 or self._stop.is_set() or self._reload_requested:
                return
            if ping is None or delay <= ping:
                await self._wait_woken(self.grid.wait())
                return
            await self._wait_woken(asyncio.sleep(ping))
            if self._wake.is_set():
                return

    async def _wait_woken(self, sleep: Coroutine[Any, Any, None]) -> None:
        """Run `sleep`, but return at once when a stop or reload is requested."""
        self._wake.clear()
        loop = asyncio.get_running_loop()
        sleeper = loop.create_task(sleep)
        waker = loop.create_task(self._wake.wait())
        await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, waker):
            task.cancel()
        await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def _reload(self) -> None:
        self._reload_requested = False
        self.notifier.reloading()
        for publisher in self.publishers:
            try:
                await publisher.reopen()
            except Exception:
                log.exception("reopening %s failed", type(publisher).__name__)
        try:
            settings = self._reload_settings()
        except ConfigError as exc:
            log.error("reload refused, still running the previous config:\n%s", exc)
        else:
            old_interval = self.poller.settings.interval
            await self.poller.apply(settings)
            for publisher in self.publishers:
                await publisher.reconfigure(settings)
            if settings.interval != old_interval:
                loop = asyncio.get_running_loop()
                self.grid = Grid.aligned(settings.interval, loop.time())
            log.info("reloaded: %d devices", len(settings.devices))
        self.notifier.ready()
