"""The event loop's clock as the drivers' waits see it: shared by every line that keeps a
silence, a pause or a wait for a late answer."""

from __future__ import annotations

import asyncio


def clock_slack(loop: asyncio.AbstractEventLoop) -> float:
    """What to add to a silence or pause the line keeps so it is never short on `loop`'s clock.

    asyncio's own loops time with `time.monotonic()`; uvloop's clock and timers count whole
    milliseconds (libuv), so a wait measured there can end up to a millisecond early."""
    return 0.0 if isinstance(loop, asyncio.BaseEventLoop) else 0.001
