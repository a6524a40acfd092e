"""A `Bus` is one physical line (a serial port, an RTU-over-TCP gateway): one request at a time.

Drivers of devices on the same line get the same Bus; none knows who else is on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class LineConnection(Protocol):
    """What the drivers of one line share through its `Bus` (a Modbus line, a serial line)."""

    async def aclose(self) -> None: ...


class Bus:
    """One line's request queue and its shared connection.

    `turn()` grants the line to one request at a time, first come first served (asyncio.Lock
    wakes waiters in FIFO order). `connection` is what the line's drivers share (a
    `ModbusLine`, a `SerialLine`): the first driver to need it creates it, and each driver
    checks it holds its own kind.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._lock = asyncio.Lock()
        self.connection: LineConnection | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def turn(self) -> asyncio.Lock:
        """`async with bus.turn():` holds the line for one request (or one exchange)."""
        return self._lock

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
