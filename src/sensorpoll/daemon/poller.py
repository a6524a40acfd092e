"""One poll of every device: concurrent reads, each under its own deadline -> a `Cycle`.

Owns error classification, per-device backoff and logging device up/down transitions once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import operator
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sensorpoll.config.schema import DeviceConfig
from sensorpoll.daemon.carry import RateSchedule
from sensorpoll.daemon.cycle import NOTHING_CARRIED, Cycle, DeviceResult
from sensorpoll.drivers.base import Driver, Reading, Value
from sensorpoll.drivers.errors import DeviceError, DeviceTimeout

log = logging.getLogger("sensorpoll.poll")

BACKOFF_AFTER = 3  # consecutive failures read every cycle before backoff starts
BACKOFF_MAX = 30.0  # seconds between attempts at most, for a device that stays down
# A failed read costs its neighbours bus time only when it waited for an answer on a line it
# shares: a timeout there backs off up to SHARED_BACKOFF_CYCLES intervals. Any other failure
# (connection refused, an error answer, a device alone on its line) is cheap to retry and is
# retried at least every CHEAP_RETRY_CYCLES intervals, so a device is back within two cycles
# of its slave.
SHARED_BACKOFF_CYCLES = 8
CHEAP_RETRY_CYCLES = 2
STUCK_GRACE = 0.05  # how long past its deadline a read that ignores cancellation may run


_VALUE_TYPES = frozenset({float, int, bool, str})


def classify(exc: BaseException) -> tuple[str, str]:
    """(reason, detail) for an exception a read raised."""
    if isinstance(exc, DeviceError):
        return exc.reason, str(exc)
    if isinstance(exc, TimeoutError):
        return "timeout", str(exc) or "no answer before the deadline"
    if isinstance(exc, ConnectionError):
        return "connection", str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        return "io", str(exc) or type(exc).__name__
    return "internal", f"{type(exc).__name__}: {exc}"


class DevicePoller:
    """Reads one device once per cycle and remembers its health between cycles."""

    def __init__(
        self,
        driver: Driver[DeviceConfig],
        deadline: float,
        interval: float,
        *,
        shared: bool = False,
    ) -> None:
        self.driver = driver
        self.deadline = deadline
        self.interval = interval
        self.shared = shared  # on a line other devices use too (see SHARED_BACKOFF_CYCLES)
        self.name = driver.config.name
        self._fields = tuple(f.name for f in driver.config.fields)
        self.task_name = f"read:{self.name}"
        self._up: bool | None = None
        self._failures = 0
        self._next_attempt = -math.inf
        self._last: tuple[str, str] = ("", "")
        self._stuck: asyncio.Task[DeviceResult] | None = None
        self._expired = False
        self._schedule: RateSchedule | None = None
        self._begun: tuple[float, int, frozenset[str] | None] = (0.0, 0, None)  # see `begin`
        # the loop of the read in progress: its clock times the read (get_running_loop()
        # makes a getpid system call on Python 3.11, per device per cycle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rebase(interval)

    def rebase(self, interval: float) -> None:
        """Take the top-level interval (again, on reload): rates are multiples of it."""
        self.interval = interval
        config = self.driver.config
        if self._schedule is None or self._schedule.base != interval:
            needed = RateSchedule.needed(config, interval)
            self._schedule = RateSchedule(config, interval) if needed else None

    @property
    def config(self) -> DeviceConfig:
        return self.driver.config

    def start(
        self, now: float, tick: int, loop: asyncio.AbstractEventLoop
    ) -> DeviceResult | asyncio.Future[Any]:
        """This cycle's read at grid point `tick` (loop time `now`), begun: the driver's
        future (`begin`) or a task running `poll`. A device not read at this point gets its
        result at once: one in backoff or still stuck in a read is skipped; one whose rate
        does not have it read now carries its values (a device whose last read did not
        succeed has nothing to carry, and is read whenever backoff allows). `loop` is the
        running loop, passed in: on Python 3.11 `asyncio.get_running_loop()` makes a getpid
        system call, and the start of 10,000 reads is the cycle's critical path."""
        if self._stuck is not None or now < self._next_attempt:
            return self.skipped()
        schedule = self._schedule
        if schedule is not None and self._up and not schedule.device_due(tick):
            return self.carried()
        future = self.begin(tick, loop)
        if future is None:
            return loop.create_task(self.poll(tick), name=self.task_name)
        return future

    def carried(self) -> DeviceResult:
        """The result for a grid point the device is not due at: its last values, carried."""
        assert self._schedule is not None
        values, carried = self._schedule.current()
        return DeviceResult(self.name, True, None, 0.0, values, attempted=False, carried=carried)

    def skipped(self) -> DeviceResult:
        """The result for a cycle in which the device was not read (backoff, or a stuck read)."""
        reason, detail = self._last
        if self._stuck is not None and not self._stuck.done():
            reason, detail = "timeout", "the previous read is still running"
        return DeviceResult(self.name, False, reason, 0.0, {}, detail, attempted=False)

    def _prepare(self, tick: int) -> frozenset[str] | None:
        """Tell the driver its deadline and the fields due at grid point `tick`."""
        driver = self.driver
        driver.deadline = self.deadline
        schedule = self._schedule
        due = None if schedule is None or not self._up else schedule.due_fields(tick)
        driver.due = due
        return due

    async def poll(self, tick: int = 0) -> DeviceResult:
        """Read the device once, at grid point `tick`, in a task of its own. The cycle cancels
        the read at this device's deadline (see `poll_cycle`); that cancellation becomes a
        `timeout` result here, a partial one when the driver had read some fields."""
        loop = self._loop = asyncio.get_running_loop()
        start = loop.time()
        due = self._prepare(tick)
        try:
            raw = await self.driver.read()
        except asyncio.CancelledError:
            if not self._expired:
                raise  # not our deadline: the daemon is stopping
            return self._ran_out(start, tick, due)
        except Exception as exc:  # nothing a driver raises escapes the loop
            return self._raised(exc, start, tick, due)
        return self._read(raw, start, tick, due)

    def begin(self, tick: int, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Reading] | None:
        """Start the read at grid point `tick` without a task, if the driver can
        (`Driver.begin`): its future, which `finish` turns into the result. None: the
        driver cannot, and the read runs `poll` in a task."""
        self._loop = loop
        # `_prepare`, inline: one Python call less per device on the cycle's critical path
        driver = self.driver
        driver.deadline = self.deadline
        schedule = self._schedule
        due = driver.due = None if schedule is None or not self._up else schedule.due_fields(tick)
        self._begun = (loop.time(), tick, due)
        try:
            return driver.begin()
        except Exception as exc:  # as a read that raised: the cycle gets a result for it
            future: asyncio.Future[Reading] = loop.create_future()
            future.set_exception(exc)
            return future

    def finish(self, future: asyncio.Future[Reading]) -> DeviceResult:
        """The result of a read `begin` started, once its future is done (cancelled: by the
        deadline)."""
        start, tick, due = self._begun
        if future.cancelled():
            return self._ran_out(start, tick, due)
        exc = future.exception()
        if exc is not None:
            return self._raised(exc, start, tick, due)
        return self._read(future.result(), start, tick, due)

    def _clock(self) -> float:
        """The time on the clock of the loop the read runs on."""
        loop = self._loop
        return asyncio.get_running_loop().time() if loop is None else loop.time()

    def _read(
        self, raw: Reading, start: float, tick: int, due: frozenset[str] | None
    ) -> DeviceResult:
        """The result of a read that returned `raw`."""
        # Hot path (every device, every cycle), inline: a fresh dict with exactly the fields,
        # in order, of plain value types -- what built-in drivers return -- is taken as it
        # is; a copy, so a driver that reuses its dict cannot change a cycle.
        invalid: tuple[str, ...] = ()
        try:
            if (
                type(raw) is dict
                and tuple(raw) == self._fields
                and _VALUE_TYPES.issuperset(map(type, raw.values()))
            ):
                values: Mapping[str, Value | None] = dict(raw)
            else:
                values, invalid = self._values(raw, due)
        except Exception as exc:  # a driver's odd reading is its error, not the loop's
            return self._raised(exc, start, tick, due)
        carried = NOTHING_CARRIED
        schedule = self._schedule
        if schedule is not None:
            values, carried = schedule.record(tick, due, values, time.time())
        duration = self._clock() - start
        if self._up and not invalid and not carried:  # the usual: nothing to log or reset
            return DeviceResult(self.name, True, None, duration, values)
        return self._succeeded(values, duration, carried, invalid)

    def _ran_out(self, start: float, tick: int, due: frozenset[str] | None) -> DeviceResult:
        """The deadline cancelled the read."""
        self._expired = False
        detail = f"no answer within {self.deadline:g}s"
        duration = self._clock() - start
        return self._cut_short("timeout", detail, duration, start, tick, due)

    def _raised(
        self, exc: BaseException, start: float, tick: int, due: frozenset[str] | None
    ) -> DeviceResult:
        """The result of a read that raised `exc`."""
        reason, detail = classify(exc)
        duration = self._clock() - start
        if isinstance(exc, DeviceTimeout):
            return self._cut_short(reason, detail, duration, start, tick, due)
        if not isinstance(exc, DeviceError | OSError) and self._up is not False:
            log.error("device %s: unexpected error from its driver", self.name, exc_info=exc)
        return self._failed(reason, detail, duration, start)

    def expire(self, read: asyncio.Future[Any]) -> None:
        """The deadline has passed: cancel the read (its task, or its future from `begin`)
        if it is still running."""
        if not read.done():
            self._expired = True
            read.cancel()

    def failed_internally(self, exc: Exception, start: float) -> DeviceResult:
        """The result for a read whose outcome could not be taken (a bug of ours)."""
        loop = asyncio.get_running_loop()
        return self._failed("internal", f"{type(exc).__name__}: {exc}", loop.time() - start, start)

    def timed_out(self, duration: float, start: float) -> DeviceResult:
        return self._failed("timeout", f"no answer within {self.deadline:g}s", duration, start)

    def _cut_short(
        self,
        reason: str,
        detail: str,
        duration: float,
        start: float,
        tick: int,
        due: frozenset[str] | None,
    ) -> DeviceResult:
        """A read that ran out of time: partial if the driver had read some fields."""
        try:
            got = {k: v for k, v in self.driver.partial().items() if k in self._fields}
        except Exception:  # a driver bug must not turn a timeout into a crash
            log.exception("device %s: partial() failed", self.name)
            got = {}
        if not got:
            return self._failed(reason, detail, duration, start)
        carried: Mapping[str, float] = NOTHING_CARRIED
        if self._schedule is not None:
            values, carried = self._schedule.record(tick, due, got, time.time())
        else:
            values = {name: got.get(name) for name in self._fields}
        invalid = tuple(name for name, value in got.items() if value is None)
        self._last = (reason, detail)
        # Not a failure for backoff: the device answers, and backing off would cost the values
        # it does deliver. Logged once, as a device going down is.
        if self._up is not False:
            log.warning(
                "device %s read only partly (%d of %d fields): %s: %s",
                self.name,
                len(got),
                len(self._fields),
                reason,
                detail,
            )
        else:
            log.debug("device %s still read only partly: %s: %s", self.name, reason, detail)
        self._up = False
        return DeviceResult(
            self.name, False, reason, duration, values, detail,
            carried=carried, partial=True, invalid=invalid,
        )  # fmt: skip

    def _values(
        self, raw: Reading, due: frozenset[str] | None = None
    ) -> tuple[Mapping[str, Value | None], tuple[str, ...]]:
        """The fields of `raw` (all, or those `due`), checked, in field order, and the ones
        with no valid value (`poll` takes the usual case inline)."""
        values: dict[str, Value | None] = {}
        invalid: list[str] = []
        for name in self._fields:
            if due is not None and name not in due:
                continue
            try:
                value = raw[name]
            except KeyError:
                raise DeviceError(
                    f"driver returned no value for field {name}", reason="internal"
                ) from None
            except TypeError:
                raise DeviceError(
                    f"driver returned {type(raw).__name__}, not a mapping", reason="internal"
                ) from None
            if value is None:
                invalid.append(name)
            elif not isinstance(value, int | float | str):
                raise DeviceError(
                    f"driver returned {type(value).__name__} for field {name}", reason="internal"
                )
            values[name] = value
        return values, tuple(invalid)

    def _succeeded(
        self,
        values: Mapping[str, Value | None],
        duration: float,
        carried: Mapping[str, float] = NOTHING_CARRIED,
        invalid: tuple[str, ...] = (),
    ) -> DeviceResult:
        if self._up is False:
            failures = self._failures
            if failures == 0:  # it was down only to partial reads
                log.info("device %s is read completely again", self.name)
            else:
                log.info(
                    "device %s is back up after %d failed read%s",
                    self.name,
                    failures,
                    "s" * (failures != 1),
                )
        self._up, self._failures, self._next_attempt = True, 0, -math.inf
        return DeviceResult(
            self.name, True, None, duration, values, carried=carried, invalid=invalid
        )

    def _failed(self, reason: str, detail: str, duration: float, start: float) -> DeviceResult:
        if self._schedule is not None:
            self._schedule.forget()
        self._failures += 1
        self._last = (reason, detail)
        if self._failures >= BACKOFF_AFTER:
            costly = self.shared and reason == "timeout"
            cycles = SHARED_BACKOFF_CYCLES if costly else CHEAP_RETRY_CYCLES
            doubled = 2 ** min(self._failures - BACKOFF_AFTER, 30)  # a float overflows past ~1000
            delay = min(self.interval * doubled, self.interval * cycles, BACKOFF_MAX)
            # minus half an interval: "due" is tested at grid points, which jitter a little
            self._next_attempt = start + max(delay, self.interval) - self.interval / 2
        if self._up is not False or self._failures == 1:  # up, or only read partly so far
            log.warning("device %s is down: %s: %s", self.name, reason, detail)
        else:
            log.debug("device %s still down: %s: %s", self.name, reason, detail)
        self._up = False
        return DeviceResult(self.name, False, reason, duration, {}, detail)

    def abandon(self, task: asyncio.Task[DeviceResult], duration: float) -> DeviceResult:
        """A read that ignored cancellation past its deadline: leave it running, skip the device
        until it finishes, and report a timeout now."""
        self._stuck = task
        task.add_done_callback(self._unstick)
        log.error("device %s: read ignored cancellation; skipping it until it ends", self.name)
        now = asyncio.get_running_loop().time()
        return self._failed("timeout", "read ignored cancellation", duration, now)

    def _unstick(self, task: asyncio.Task[DeviceResult]) -> None:
        self._stuck = None
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved

    @property
    def stuck(self) -> bool:
        return self._stuck is not None


async def poll_cycle(
    pollers: Sequence[DevicePoller], number: int, overruns_total: int = 0, *, tick: int = 0
) -> Cycle:
    """Read every due device concurrently; results in configuration order. `tick` is the
    grid point (its index since the schedule started): devices with a rate of their own are
    read on theirs, their values carried in between.

    A read is the driver's own future where it offers one (`DevicePoller.begin`), else a task
    running `DevicePoller.poll`: at 10,000 devices the task, its coroutines and the wait on
    them were most of a cycle's CPU. Each read's result is taken in its done callback, when it
    ends, so the cycle's wait is one future however many devices there are.

    Deadlines count from the cycle's start. One timer per distinct deadline cancels the reads
    still running (cheaper than a timeout object per device: 1,000 devices at 10 Hz).
    """
    loop = asyncio.get_running_loop()
    started_monotonic = loop.time()
    started = time.time()
    results: list[DeviceResult | None] = [None] * len(pollers)
    reads: dict[asyncio.Future[Any], int] = {}  # a read's future or task -> its device
    all_done: asyncio.Future[None] = loop.create_future()
    left = 0  # reads not ended yet

    def ended(read: asyncio.Future[Any]) -> None:
        nonlocal left
        i = reads[read]
        poller = pollers[i]
        try:
            if isinstance(read, asyncio.Task):
                if read.cancelled():  # cancelled at its deadline before it even started
                    results[i] = poller.timed_out(0.0, started_monotonic)
                else:
                    results[i] = read.result()
            else:
                results[i] = poller.finish(read)
        except Exception as exc:  # a bug here must cost one device its result, not the cycle
            log.exception("device %s: taking its result failed", poller.name)
            results[i] = poller.failed_internally(exc, started_monotonic)
        left -= 1
        if left == 0 and not all_done.done():
            all_done.set_result(None)

    # The hot loop of a cycle: at 10,000 devices its length is how late the last read starts,
    # so it starts the reads and does nothing else; their bookkeeping follows, while the
    # first answers are still on their way.
    begun = [poller.start(started_monotonic, tick, loop) for poller in pollers]
    for i, read in enumerate(begun):
        if isinstance(read, DeviceResult):  # not read at this grid point
            results[i] = read
            continue
        reads[read] = i
        read.add_done_callback(ended)  # run by the loop, never before the await below
    left = len(reads)  # the callbacks run only once we await below
    # Which reads a deadline ends is found when its timer fires, which in a cycle whose
    # devices all answer in time it never does: no per-device bookkeeping for it up front.
    if len(reads) == len(pollers):  # every device read: a pass in C, not in Python
        deadlines = set(map(_DEADLINE, pollers))
    else:
        deadlines = {pollers[i].deadline for i in reads.values()}
    timers = [
        loop.call_at(started_monotonic + deadline, _expire, deadline, pollers, reads)
        for deadline in deadlines
    ]
    if reads:
        # The timers end every read at its deadline; this one is only the backstop for a
        # driver that swallows cancellation, so none can hold the cycle.
        backstop = started_monotonic + max(deadlines) + STUCK_GRACE
        timers.append(loop.call_at(backstop, _end_wait, all_done))
    else:
        all_done.set_result(None)
    try:
        await all_done
    except asyncio.CancelledError:
        # A shutdown cancelled the cycle: its reads go with it, so none outlives the
        # connections about to be closed. Bounded: a read may ignore cancellation.
        for read in reads:
            read.cancel()
        if reads:
            await asyncio.wait(reads, timeout=STUCK_GRACE)
        raise
    finally:
        for timer in timers:
            timer.cancel()
    for read, i in reads.items():
        if results[i] is None:  # past the backstop: a read whose end was not taken
            read.remove_done_callback(ended)
            if isinstance(read, asyncio.Task):
                results[i] = pollers[i].abandon(read, loop.time() - started_monotonic)
            else:  # a begun read whose end a loop too busy has not taken yet: a timeout,
                read.cancel()  # unless it is done already (cancel then does nothing)
                results[i] = pollers[i].finish(read)
    devices = tuple(r for r in results if r is not None)
    return Cycle(
        number=number,
        started=started,
        started_monotonic=started_monotonic,
        duration_s=loop.time() - started_monotonic,
        devices=devices,
        overruns_total=overruns_total,
    )


_DEADLINE = operator.attrgetter("deadline")


def _end_wait(all_done: asyncio.Future[None]) -> None:
    if not all_done.done():
        all_done.set_result(None)


def _expire(
    deadline: float, pollers: Sequence[DevicePoller], reads: dict[asyncio.Future[Any], int]
) -> None:
    # A read whose wait ended by its deadline, on a loop too busy to have resumed it yet
    # (10,000 devices starting at once), has its resumption queued already: cancel after it.
    asyncio.get_running_loop().call_soon(_cancel, deadline, pollers, reads)


def _cancel(
    deadline: float, pollers: Sequence[DevicePoller], reads: dict[asyncio.Future[Any], int]
) -> None:
    for read, i in list(reads.items()):
        poller = pollers[i]
        if poller.deadline == deadline:
            poller.expire(read)
