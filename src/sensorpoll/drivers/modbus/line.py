"""The bus queue: one connection per line, one request on it at a time, the silences kept.

Every driver on a serial port or an RTU-over-TCP gateway reaches it through the same
`ModbusLine` (stored in the core `Bus.connection` slot); a TCP/UDP device has a line of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from sensorpoll.drivers.bus import Bus
from sensorpoll.drivers.errors import DeviceConnectionError
from sensorpoll.drivers.modbus.client import Block, Connection
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.errors import keeps_connection
from sensorpoll.drivers.modbus.plan import Request
from sensorpoll.drivers.modbus.wire import silence

log = logging.getLogger("sensorpoll.modbus")

T = TypeVar("T")


def block_and_end(block: Block, end: float) -> tuple[Block, float]:
    """A `finish` for `ModbusLine.read`: the values and the loop time the line went quiet."""
    return block, end


def _settings(config: ModbusConfig) -> tuple[object, ...]:
    spec = config.bus()
    return (config.transport, spec.settings if spec else ())


class ModbusLine:
    """One physical or logical line and its connection, opened on first use.

    After any failure other than a Modbus exception response the connection is dropped and
    reopened before the next request: after a timeout or junk a late or partial answer could
    otherwise be taken for the next request's (pymodbus's TCP framer does not resynchronise).
    """

    def __init__(self, bus: Bus, config: ModbusConfig) -> None:
        self.bus = bus
        self._config = config  # the line's settings; every device on the line shares them
        self._connection: Connection | None = None
        self._connected_at = 0.0
        self._quiet_until = 0.0
        # RTU frames end with silence; keep t3.5 between one answer and the next request
        self._silence = silence(config.baudrate) if config.transport == "rtu" else 0.0
        self.timeout = 1.0  # pymodbus's own answer timeout: the smallest device deadline
        self.opened = 0  # connections made, for tests and logs
        self.shared = config.bus() is not None  # other devices may queue for this line

    @classmethod
    def on(cls, bus: Bus, config: ModbusConfig) -> ModbusLine:
        """The line of `bus`, created by the first device that uses it."""
        if bus.connection is None:
            line = cls(bus, config)
            bus.connection = line
            bus.on_close(line.aclose)
        line = bus.connection
        assert isinstance(line, ModbusLine)
        if line._settings() != _settings(config):  # a reload changed the line's settings
            line.drop("line settings changed")
            line._config = config
        return line

    def _settings(self) -> tuple[object, ...]:
        return _settings(self._config)

    def fit_timeout(self, deadline: float) -> None:
        """Make pymodbus give up no later than `deadline` (applies from the next connect)."""
        self.timeout = min(self.timeout, deadline)

    async def read(
        self,
        device: ModbusConfig,
        request: Request,
        answer_timeout: float | None,
        not_before: float,
        finish: Callable[[Block, float], T],
    ) -> T:
        """One request for `device`, waiting its turn on the line; returns `finish(values,
        the loop time the line went quiet after it)` (e.g. `block_and_end`)."""
        if not self.shared:  # a line of its own: the driver's reads never overlap
            return await self.request(device, request, answer_timeout, not_before, finish)
        async with self.bus.turn():
            return await self.request(device, request, answer_timeout, not_before, finish)

    async def request(
        self,
        device: ModbusConfig,
        request: Request,
        limit: float | None,
        not_before: float,
        finish: Callable[[Block, float], T],
    ) -> T:
        """`read` without waiting for the line: for a caller that holds it, or owns it.

        `finish` runs after the line is done with the request (its errors are not the line's):
        a driver can return this coroutine as its whole read, one coroutine layer fewer."""
        loop = asyncio.get_running_loop()
        connection = self._connection
        if connection is None or connection.lost:
            connection = await self._connected()
        # with no pause or silence configured the line is always ready: skip the clock
        if not_before or self._silence or device.pause_after_connect:
            ready = max(
                not_before, self._quiet_until, self._connected_at + device.pause_after_connect
            )
            now = loop.time()
            if ready > now:
                await asyncio.sleep(ready - now)
        table, count = request.table, request.count
        # hot path: Connection.read inlined, one coroutine layer fewer per read
        ask = connection.ask(table)
        try:
            if connection.lost:  # while pausing
                raise DeviceConnectionError("connection closed by the device")
            task = connection.reader = asyncio.current_task()
            try:
                if limit is None:
                    try:
                        response = await ask(request.address, count=count, device_id=device.unit_id)
                    except BaseException as exc:
                        connection.failed(exc, task)
                else:
                    async with asyncio.timeout(limit):
                        try:
                            response = await ask(
                                request.address, count=count, device_id=device.unit_id
                            )
                        except BaseException as exc:
                            connection.failed(exc, task)
            finally:
                connection.reader = None
            values = connection.values(response, table, count)
        except BaseException as exc:  # also on cancellation by the deadline, mid-answer
            if not keeps_connection(exc):
                self.drop(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            now = self._quiet_until = loop.time()
            self._quiet_until += self._silence
        return finish(values, now)

    async def _connected(self) -> Connection:
        connection = self._connection
        if connection is not None and connection.lost:
            self.drop("closed by the other side")
            connection = None
        if connection is None:
            connection = await Connection.open(self._config, self.timeout)
            self._connection = connection
            self._connected_at = asyncio.get_running_loop().time()
            self.opened += 1
        return connection

    def drop(self, why: str) -> None:
        if self._connection is not None:
            log.debug("%s: dropping the connection: %s", self.bus.key, why)
            self._connection.close()
            self._connection = None

    async def aclose(self) -> None:
        self.drop("closing")
