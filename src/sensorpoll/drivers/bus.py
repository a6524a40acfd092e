"""A `Bus` is one physical line (a serial port, an RTU-over-TCP gateway): one request at a time.

Drivers of devices on the same line get the same Bus; none knows who else is on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any


class Bus:
    """One line's request queue and its shared connection.

    `turn()` grants the line to one request at a time, first come first served (asyncio.Lock
    wakes waiters in FIFO order). `connection` is whatever the line's drivers share (a pymodbus
    client, a serial stream); the first driver to need it opens it via `connect()`.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._lock = asyncio.Lock()
        self.connection: Any = None
        self._closers: list[Callable[[], Awaitable[None]]] = []

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        async with self._lock:
            yield

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` when the bus is closed (at shutdown, or when its devices are removed)."""
        self._closers.append(closer)

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            await closer()
        self.connection = None


class Buses:
    """Every bus of one daemon, by key; created on first use."""

    def __init__(self) -> None:
        self._buses: dict[str, Bus] = {}

    def get(self, key: str) -> Bus:
        bus = self._buses.get(key)
        if bus is None:
            bus = self._buses[key] = Bus(key)
        return bus

    def keys(self) -> list[str]:
        return list(self._buses)

    async def aclose(self, keep: set[str] | None = None) -> None:
        """Close every bus, or every bus whose key is not in `keep`."""
        for key in list(self._buses):
            if keep is not None and key in keep:
                continue
            await self._buses.pop(key).aclose()
