"""The fixed grid cycles start on: interval-spaced points of the monotonic clock.

No drift: point k is start + k * interval, however long cycles take; an overrun skips ahead.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass


@dataclass
class Grid:
    """Grid points on the event loop's clock, aligned to a wall-clock multiple of interval."""

    interval: float
    origin: float  # loop time of grid point 0
    index: int = 0
    overruns: int = 0

    @classmethod
    def aligned(cls, interval: float, loop_now: float, wall_now: float | None = None) -> Grid:
        """Start at the next wall-clock multiple of `interval`, so 1 s cycles fall on whole
        seconds and several daemons poll in step."""
        wall = time.time() if wall_now is None else wall_now
        return cls(interval, loop_now + (-wall) % interval)

    @property
    def next_point(self) -> float:
        return self.origin + self.index * self.interval

    def advance(self, now: float) -> int:
        """Move past the point just used; if `now` is already past the next one, skip to the
        first point still ahead and count one overrun. Returns the grid points skipped."""
        self.index += 1
        late = now - self.next_point
        if late <= 0:
            return 0
        skipped = math.floor(late / self.interval) + 1
        self.index += skipped
        self.overruns += 1
        return skipped

    async def wait(self) -> None:
        """Sleep until the next grid point, waking on it to within a fraction of a millisecond."""
        await sleep_until(self.next_point)


SPIN = 0.0015  # the last stretch before a grid point is waited by yielding, not sleeping
UVLOOP_RESOLUTION = 0.001  # libuv's loop clock counts whole milliseconds


def timer_lead(loop: asyncio.AbstractEventLoop) -> tuple[float, float]:
    """How long before a point in time to set the timer that wakes for it, and how early a
    wake still counts as on time, on `loop`.

    epoll rounds timeouts up to whole milliseconds, so a plain timer wakes up to ~1 ms late;
    on asyncio's loop the last SPIN seconds are waited out by yielding to the loop (other
    tasks still run), which costs well under 1% of a core at 10 Hz. uvloop's clock and timers
    count whole milliseconds (libuv), so there a spin would wake no closer and only burn CPU
    (at 4 Hz it was two thirds of a 20-device daemon's CPU, bench/peer_collectd.py): a plain
    timer, and a wake within the clock's last millisecond before the point counts as on time.
    Waiting for the clock to tick over would spin for up to a millisecond, about 30 loop
    passes."""
    if isinstance(loop, asyncio.BaseEventLoop):
        return SPIN, 0.0
    return 0.0, UVLOOP_RESOLUTION


async def arrive(when: float) -> None:
    """After a timer set `timer_lead` early: yield to the loop until loop time `when`."""
    loop = asyncio.get_running_loop()
    _, resolution = timer_lead(loop)
    while loop.time() < when - resolution:  # noqa: ASYNC110 - a busy wait on purpose, see above
        await asyncio.sleep(0)


async def sleep_until(when: float) -> None:
    """Sleep until loop time `when` (see `timer_lead`)."""
    loop = asyncio.get_running_loop()
    lead, _ = timer_lead(loop)
    delay = when - loop.time() - lead
    if delay > 0:
        await asyncio.sleep(delay)
    await arrive(when)
