"""The bus queue: one connection per line, one request on it at a time, the silences kept.

Every driver on a serial port or an RTU-over-TCP gateway reaches it through the same
`ModbusLine` (stored in the core `Bus.connection` slot); a TCP/UDP device has a line of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sensorpoll.drivers.bus import Bus
from sensorpoll.drivers.modbus.codec import Block
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.errors import keeps_connection
from sensorpoll.drivers.modbus.plan import Request
from sensorpoll.drivers.modbus.tcp import TcpConnection

if TYPE_CHECKING:
    from sensorpoll.drivers.modbus.client import Connection
from sensorpoll.drivers.clock import clock_slack
from sensorpoll.drivers.modbus.wire import silence

log = logging.getLogger("sensorpoll.modbus")


_NO_QUEUE = contextlib.nullcontext()


async def open_connection(
    config: ModbusConfig, connect_timeout: float
) -> Connection | TcpConnection:
    """A connection for `config`'s line: our own framing for Modbus TCP, pymodbus otherwise."""
    if config.transport == "tcp":
        return await TcpConnection.open(config, connect_timeout)
    # imported here, not for a cycle: a daemon with only Modbus TCP devices never loads
    # pymodbus (nor pyserial, which it imports): bench/memory.py
    from sensorpoll.drivers.modbus.client import Connection

    return await Connection.open(config, connect_timeout)


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
        self._connection: Connection | TcpConnection | None = None
        self._connected_at = 0.0
        self._quiet_until = 0.0
        # RTU frames end with silence; keep t3.5 between one answer and the next request
        self._silence = silence(config.baudrate) if config.transport == "rtu" else 0.0
        self._clock_slack = 0.0  # set on connecting: see `clock_slack`
        self.timeout = 1.0  # pymodbus's own answer timeout: the smallest device deadline
        self.opened = 0  # connections made, for tests and logs
        self.shared = config.bus() is not None  # other devices may queue for this line

    @classmethod
    def on(cls, bus: Bus, config: ModbusConfig) -> ModbusLine:
        """The line of `bus`, created by the first device that uses it."""
        line = bus.connection
        if line is None:
            line = bus.connection = cls(bus, config)
            bus.on_close(line.aclose)
        elif not isinstance(line, ModbusLine):  # the config loader keeps protocols apart
            raise TypeError(f"bus {bus.key} is held by a {type(line).__name__}, not Modbus")
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
    ) -> tuple[Block, float]:
        """One request for `device`, after its turn on the line and not before loop time
        `not_before`; returns its values and the loop time the line went quiet after it."""
        loop = asyncio.get_running_loop()
        # a line of its own needs no queue: its one driver's reads never overlap
        async with self.bus.turn() if self.shared else _NO_QUEUE:
            connection = self._connection
            if connection is None or connection.lost:
                connection = await self._connected()
            ready = max(
                not_before, self._quiet_until, self._connected_at + device.pause_after_connect
            )
            delay = ready - loop.time()
            if delay > 0:  # a silence or a pause: a minimum, never cut short by the clock
                await asyncio.sleep(delay + self._clock_slack)
            try:
                block = await connection.read(
                    request.table, request.address, request.count, device.unit_id, answer_timeout
                )
            except BaseException as exc:  # also on cancellation by the deadline, mid-answer
                if not keeps_connection(exc):
                    self.drop(f"{type(exc).__name__}: {exc}")
                raise
            finally:
                now = loop.time()
                # slack here too: `now` itself may read up to a tick early
                self._quiet_until = (
                    now + self._silence + (self._clock_slack if self._silence else 0.0)
                )
            return block, now

    def begin(
        self,
        device: ModbusConfig,
        request: Request,
        not_before: float,
        convert: Callable[[Any], Any],
        *,
        frame: bool = False,
    ) -> asyncio.Future[Any] | None:
        """`read` without a coroutine, for the poll loop (`Driver.begin`), when nothing must
        be waited for: the line is the device's alone, its connection is our Modbus TCP one
        and open, and no pause is due. The future gets `convert(block)`; its end is recorded
        and its failure drops the connection as in `read`; the loop's deadline bounds it.
        None: the request must go through `read`. `frame`: `convert` takes the answer's
        register bytes as they came (see `compile_frame_decoder`), not the block."""
        connection = self._connection
        if self.shared or type(connection) is not TcpConnection or connection.lost:
            return None
        loop = connection.loop
        ready = max(not_before, self._quiet_until, self._connected_at + device.pause_after_connect)
        if ready > loop.time():
            return None
        future = connection.send(
            request.table, request.address, request.count, device.unit_id, convert, frame=frame
        )
        future.add_done_callback(self._ended)
        return future

    def _ended(self, future: asyncio.Future[Any]) -> None:
        """A request from `begin` ended: as `read`'s `except` and `finally` do."""
        connection = self._connection
        if isinstance(connection, TcpConnection):
            connection.done(future)
        self._quiet_until = future.get_loop().time()  # Modbus TCP keeps no silence
        if future.cancelled():  # by the deadline, mid-answer perhaps
            self.drop("CancelledError: the deadline passed")
        elif (exc := future.exception()) is not None and not keeps_connection(exc):
            self.drop(f"{type(exc).__name__}: {exc}")

    async def _connected(self) -> Connection | TcpConnection:
        connection = self._connection
        if connection is not None and connection.lost:
            self.drop("closed by the other side")
            connection = None
        if connection is None:
            connection = await open_connection(self._config, self.timeout)
            self._connection = connection
            loop = asyncio.get_running_loop()
            self._connected_at = loop.time()
            self._clock_slack = clock_slack(loop)
            self.opened += 1
        return connection

    def drop(self, why: str) -> None:
        if self._connection is not None:
            log.debug("%s: dropping the connection: %s", self.bus.key, why)
            self._connection.close()
            self._connection = None

    async def aclose(self) -> None:
        self.drop("closing")
