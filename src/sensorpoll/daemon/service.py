"""The daemon: poll on the grid forever, publish each cycle, reload on SIGHUP, stop on SIGTERM.

Publishers (HTTP exposition, sinks) are passed in; the daemon never imports export.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import signal
from collections.abc import Callable, Sequence
from typing import Protocol

from sensorpoll.config.errors import ConfigError
from sensorpoll.config.schema import EventLoopChoice, Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.devices import Devices
from sensorpoll.daemon.eventloop import loop_factory, loop_name
from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.daemon.notify import Notifier
from sensorpoll.daemon.poller import STUCK_GRACE
from sensorpoll.daemon.schedule import Grid, arrive, timer_lead

log = logging.getLogger("sensorpoll")

SHUTDOWN_GRACE = 2.0  # seconds the current cycle and closing connections get on SIGTERM
MIN_CLOSE_TIME = 0.5  # closing connections gets at least this, even when the grace is spent
WEDGED_MARGIN = 1.0  # seconds past its longest possible duration before a cycle counts as wedged
RELOAD_TIMEOUT = 10.0  # seconds reading a reloaded config may take before it is refused
# A cycle allocates tens of objects per device, nearly all freed by their refcounts before it
# ends. At the default threshold (700) the collector ran 110 times a cycle at 10,000 devices,
# 33 ms of it, with a full collection of 19 ms in most cycles; at 50,000 it runs every other
# cycle or so, 5 ms a cycle. Only garbage in reference cycles waits longer to be freed.
GC_YOUNG_THRESHOLD = 50_000


class ReloadAbandoned(Exception):
    """Reading a reloaded config took longer than RELOAD_TIMEOUT: refused."""


class StartupError(Exception):
    """The daemon could not start serving (the HTTP port is taken): one line, no traceback."""


class Publisher(Protocol):
    """Something that takes every finished cycle: the HTTP exposition, a jsonl sink."""

    async def start(self) -> None: ...
    def publish(self, cycle: Cycle) -> None: ...
    async def reconfigure(self, settings: Settings) -> None: ...
    async def reopen(self) -> None: ...
    async def aclose(self) -> None: ...


def status_line(cycle: Cycle) -> str:
    up = sum(cycle.ok_flags)
    return f"{_devices(len(cycle.devices))}, {up} up, last cycle {cycle.duration_s * 1000:.0f} ms"


class Daemon:
    """`sensorpoll run`: the poll loop plus signals, reload and systemd notification."""

    def __init__(
        self,
        settings: Settings,
        publishers: Sequence[Publisher],
        reload_settings: Callable[[], Settings],
        notifier: Notifier | None = None,
        last_reload: LastReload | None = None,
    ) -> None:
        self.devices = Devices(settings)
        self.publishers = list(publishers)
        self._reload_settings = reload_settings
        self.notifier = notifier or Notifier()
        self.last_reload = last_reload or LastReload.at_start()
        self._stop = asyncio.Event()
        self._stop_requested_at: float | None = None  # loop time of the first request
        self._reload_requested = False
        self._reading: asyncio.Future[Settings] | None = None  # a reload's config being read
        self._reading_deadline = math.inf
        self._reading_timer: asyncio.TimerHandle | None = None
        # What the poll loop waits on now (a grid point, a cycle): resolved True when it comes,
        # False when a stop (or, while sleeping, a reload) cuts the wait short.
        self._waiter: asyncio.Future[bool] | None = None
        self._reload_wakes = False  # whether a reload request cuts the current wait short
        self._feed_until = math.inf  # loop time after which the watchdog is no longer fed
        self._ping_timer: asyncio.TimerHandle | None = None
        self.grid: Grid | None = None
        self._gc_threshold: tuple[int, ...] | None = None  # the collector's, while we run

    def stop(self) -> None:
        if self._stop_requested_at is None:
            self._stop_requested_at = asyncio.get_running_loop().time()
        self._stop.set()
        self._interrupt(stopping=True)

    def request_reload(self) -> None:
        self._reload_requested = True
        self._interrupt()

    def _interrupt(self, *, stopping: bool = False) -> None:
        """Cut the poll loop's current wait short: always on a stop; on anything else (a
        reload request, a reload's config ready or overdue) only while it sleeps."""
        waiter = self._waiter
        if waiter is not None and (stopping or self._reload_wakes):
            _resolve(waiter, False)

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
            for publisher in self.publishers:  # HTTP listens before READY=1
                try:
                    await publisher.start()
                except OSError as exc:
                    raise StartupError(f"{type(publisher).__name__}: {exc}") from exc
                started.append(publisher)
            await self.devices.open()
            # Startup objects live for the daemon's life: keep them out of GC scans, which
            # otherwise add milliseconds of jitter to cycle starts with thousands of devices.
            gc.collect()
            gc.freeze()
            young, *older = self._gc_threshold = gc.get_threshold()
            gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), *older)
            settings = self.devices.settings
            self.grid = Grid.aligned(settings.interval, loop.time())
            self.notifier.ready(f"{_devices(len(settings.devices))}, polling")
            log.info("polling %s every %gs", _devices(len(settings.devices)), settings.interval)
            while not self._stop.is_set():
                await self._sleep_until_next_point()
                if self._stop.is_set():
                    break
                if self._reload_requested and self._reading is None:
                    await self._start_reload()
                    continue
                if self._reading is not None and self._reload_settled(loop.time()):
                    await self._finish_reload()
                    continue
                cycle = await self._poll()
                if cycle is None:  # stopped, and the cycle was cancelled
                    break
                self._publish(cycle)
                if self.grid.advance(loop.time()):
                    log.warning(
                        "cycle %d took %.3fs, longer than the %gs interval; skipping ahead",
                        cycle.number,
                        cycle.duration_s,
                        self.grid.interval,
                    )
        finally:
            await self._shutdown(started)

    async def _sleep_until_next_point(self) -> None:
        """Sleep until the next grid point; a stop, a reload request or a reload's config
        being ready (or overdue) wakes it early."""
        assert self.grid is not None
        loop = asyncio.get_running_loop()
        lead, _ = timer_lead(loop)
        while not self._has_work(loop.time()):
            point = self.grid.next_point
            waiter: asyncio.Future[bool] = loop.create_future()
            timer = loop.call_at(point - lead, _resolve, waiter, True)
            try:
                on_time = await self._wait(waiter, feed_until=math.inf, reload_wakes=True)
            finally:
                timer.cancel()
            if on_time:
                await arrive(point)
                return

    def _has_work(self, now: float) -> bool:
        """Something to do before the next grid point."""
        if self._stop.is_set():
            return True
        if self._reading is None:
            return self._reload_requested
        return self._reload_settled(now)

    async def _poll(self) -> Cycle | None:
        """One cycle, the watchdog fed while it runs. On a stop request the cycle gets until
        half the shutdown grace to finish, then is cancelled: None."""
        assert self.grid is not None
        loop = asyncio.get_running_loop()
        cycle = self.devices.cycle(self.grid.overruns, tick=self.grid.index)
        cycle_task = loop.create_task(cycle, name="cycle")
        ended: asyncio.Future[bool] = loop.create_future()
        cycle_task.add_done_callback(lambda _: _resolve(ended, True))
        # A cycle ends by itself within its slowest deadline (poll_cycle's backstop). Past that
        # (and a margin) the loop is wedged: stop feeding the watchdog so systemd restarts us.
        feed_until = loop.time() + self.devices.longest_cycle + WEDGED_MARGIN
        await self._wait(ended, feed_until=feed_until, reload_wakes=False)
        if not cycle_task.done():  # stopping: the cycle gets part of the grace, no more
            assert self._stop_requested_at is not None
            left = self._stop_requested_at + SHUTDOWN_GRACE / 2 - loop.time()
            await asyncio.wait({cycle_task}, timeout=max(0.0, left))
        if not cycle_task.done():
            log.info("stopping: cancelling the cycle in progress")
            cycle_task.cancel()
            await asyncio.wait({cycle_task})  # poll_cycle cancels its reads and returns at once
            return None
        return cycle_task.result()

    async def _wait(
        self, waiter: asyncio.Future[bool], *, feed_until: float, reload_wakes: bool
    ) -> bool:
        """`waiter`'s result: True when what it waits for came, False when `_interrupt` cut the
        wait short. The watchdog is pinged on time meanwhile, as long as the loop clock is
        before `feed_until`.

        One future and a timer or two, no task: the daemon waits twice a cycle. With the tasks,
        events and `asyncio.wait`s this replaced, a 20-device cycle at 4 Hz spent 403 us of CPU
        from the wake to its start; now 260 us (bench/peer_collectd.py's setup)."""
        if self._stop.is_set():
            _resolve(waiter, False)
        self._waiter, self._reload_wakes = waiter, reload_wakes
        self._feed_until = feed_until
        self._feed()
        try:
            return await waiter
        finally:
            self._waiter, self._reload_wakes = None, False
            self._feed_until = math.inf
            if self._ping_timer is not None:
                self._ping_timer.cancel()
                self._ping_timer = None

    def _feed(self) -> None:
        """Ping the watchdog if a ping is (nearly) due, and set a timer for the next one, while
        the loop clock is before `_feed_until`. The one place the watchdog is fed: from the
        poll loop's own waits, so a wedged loop stops pinging."""
        self._ping_timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now >= self._feed_until:  # wedged: no more pings, systemd restarts us
            return
        self.notifier.watchdog(now)
        due = self.notifier.next_ping
        if due < math.inf:
            self._ping_timer = loop.call_at(min(due, self._feed_until), self._feed)

    def _publish(self, cycle: Cycle) -> None:
        for publisher in self.publishers:
            try:
                publisher.publish(cycle)
            except Exception:
                log.exception("publishing cycle %d failed", cycle.number)
        self.notifier.status(status_line(cycle))

    async def _shutdown(self, started: Sequence[Publisher]) -> None:
        """Close connections within what is left of the shutdown grace, then the publishers
        (sinks flush and close their files, HTTP stops listening)."""
        self.notifier.stopping()
        log.info("stopping")
        now = asyncio.get_running_loop().time()
        since = self._stop_requested_at if self._stop_requested_at is not None else now
        budget = max(since + SHUTDOWN_GRACE - now, MIN_CLOSE_TIME)
        try:
            async with asyncio.timeout(budget):
                await self.devices.aclose()
        except TimeoutError:
            log.warning("closing devices took longer than %.1fs; leaving them", budget)
        except Exception:  # the sinks still get closed, and the exit stays clean
            log.exception("closing devices failed")
        for publisher in reversed(started):
            try:
                await publisher.aclose()
            except Exception:
                log.exception("closing %s failed", type(publisher).__name__)
        gc.unfreeze()
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)

    async def _start_reload(self) -> None:
        """SIGHUP: reopen the publishers' files (logrotate), and start reading the config in a
        worker thread, so that polling and HTTP carry on while a large file is validated; the
        result is applied between two cycles (`_finish_reload`)."""
        self._reload_requested = False
        self.notifier.reloading()
        for publisher in self.publishers:
            try:
                await publisher.reopen()
            except Exception:
                log.exception("reopening %s failed", type(publisher).__name__)
        loop = asyncio.get_running_loop()
        self._reading = loop.run_in_executor(None, self._reload_settings)
        self._reading_deadline = loop.time() + RELOAD_TIMEOUT
        # wake the loop when the result is in, or when it is too late for one
        self._reading.add_done_callback(lambda _: self._interrupt())
        self._reading_timer = loop.call_at(self._reading_deadline, self._interrupt)

    def _reload_settled(self, now: float) -> bool:
        assert self._reading is not None
        return self._reading.done() or now >= self._reading_deadline

    async def _finish_reload(self) -> None:
        reading, self._reading = self._reading, None
        assert reading is not None
        if self._reading_timer is not None:
            self._reading_timer.cancel()
        try:
            if not reading.done():  # the thread cannot be stopped: let it finish unheard
                reading.add_done_callback(_discard_late_result)
                raise ReloadAbandoned(
                    f"reading the new config took longer than {RELOAD_TIMEOUT:g}s"
                )
            settings = reading.result()
        except (ConfigError, ReloadAbandoned) as exc:
            log.error("reload refused, still running the previous config:\n%s", exc)
            self.last_reload.failed()
        except Exception:  # whatever goes wrong reading the new config, the old one keeps polling
            log.exception("reload refused, still running the previous config")
            self.last_reload.failed()
        else:
            try:
                await self._apply(settings)
            except Exception:  # a driver refusing its config: Devices.apply built nothing yet
                log.exception("reload failed, still running the previous config")
                self.last_reload.failed()
            else:
                self.last_reload.succeeded()
        self.notifier.ready()

    async def _apply(self, settings: Settings) -> None:
        assert self.grid is not None
        await self.devices.apply(settings)
        for publisher in self.publishers:
            try:
                await publisher.reconfigure(settings)
            except Exception:
                log.exception("reconfiguring %s failed", type(publisher).__name__)
        if settings.interval != self.grid.interval:
            loop = asyncio.get_running_loop()
            overruns = self.grid.overruns  # a counter in /metrics: it must not restart at 0
            self.grid = Grid.aligned(settings.interval, loop.time())
            self.grid.overruns = overruns
        log.info("reloaded: %s", _devices(len(settings.devices)))


def _resolve(waiter: asyncio.Future[bool], came: bool) -> None:
    if not waiter.done():
        waiter.set_result(came)


def _discard_late_result(reading: asyncio.Future[Settings]) -> None:
    if not reading.cancelled():
        reading.exception()  # retrieved: an abandoned reload's outcome is not news


def run_daemon(daemon: Daemon, choice: EventLoopChoice = "auto") -> None:
    """`asyncio.run(daemon.run())` on the chosen event loop, except at the end. asyncio.run
    waits for every leftover task to finish cancelling, so one read that swallows
    CancelledError (a driver bug) would hold the exit for as long as it likes; here leftovers
    get STUCK_GRACE, then are left."""
    loop = loop_factory(choice)()
    log.debug("event loop: %s", loop_name(loop))
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(daemon.run())
    finally:
        try:
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                wait = asyncio.wait(leftovers, timeout=STUCK_GRACE)
                _, stuck = loop.run_until_complete(wait)
                if stuck:
                    names = ", ".join(sorted(task.get_name() for task in stuck))
                    # asyncio adds "Task was destroyed but it is pending!" for each at exit
                    log.warning("exiting without tasks that ignore cancellation: %s", names)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _devices(count: int) -> str:
    return f"{count} device{'s' * (count != 1)}"
