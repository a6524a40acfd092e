"""Modbus TCP framing of our own on an asyncio Protocol: the request path of `transport: tcp`.

As few Python steps per request as the protocol allows: one write, the frame assembled from
the MBAP length, transaction and unit id checked, one future per request. pymodbus keeps the
serial, UDP and RTU-over-TCP framings and the simulator (see `client.py`).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any, cast

from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceTimeout,
    ProtocolError,
    described,
)
from sensorpoll.drivers.modbus.codec import Block
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.errors import ModbusExceptionResponse
from sensorpoll.drivers.modbus.wire import READ_FUNCTIONS

# MBAP (tid, protocol 0, length 6, unit), function, address, count
_REQUEST = struct.Struct(">HHHBBHH")
_HEADER = struct.Struct(">HHHB")  # MBAP: tid, protocol, length (unit + PDU), unit
_MAX_LENGTH = 254  # unit id + the longest PDU (253 bytes)
_REGISTERS = {n: struct.Struct(f">{n}H") for n in range(1, 126)}


class PendingRead:
    """The one request in flight: what its answer must match, and where its values go (the
    block, or what `convert` makes of it: of the block, or with `frame` of the answer's
    register bytes as they came)."""

    __slots__ = ("convert", "count", "frame", "function", "future", "registers", "tid", "unit")

    def __init__(
        self,
        tid: int,
        unit: int,
        function: int,
        count: int,
        future: asyncio.Future[Any],
        convert: Callable[[Any], Any] | None = None,
        frame: bool = False,
    ) -> None:
        self.tid, self.unit, self.function, self.count = tid, unit, function, count
        self.registers = function in (3, 4)
        self.future = future
        self.convert = convert
        self.frame = frame and self.registers and convert is not None


class ModbusTcpProtocol(asyncio.Protocol):
    """Frames answers from the byte stream and hands each to the request it answers.

    After bytes that are not a Modbus TCP frame the stream cannot be trusted to find the next
    frame boundary: everything after them is ignored, the request runs into its deadline and
    the line drops the connection (as pymodbus does). A well-formed frame with another
    transaction or unit id (a late answer to a request that timed out) is skipped."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._buffer = b""
        self._pending: PendingRead | None = None
        self._junk = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's is one, but not an asyncio.Transport subclass)
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(DeviceConnectionError("connection closed by the device mid-request"))

    def _fail(self, error: Exception) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not pending.future.done():
            pending.future.set_exception(error)

    def expect(self, pending: PendingRead) -> None:
        """The next frame for `pending`'s transaction and unit answers it."""
        self._pending = pending

    def send(self, pending: PendingRead, address: int) -> None:
        assert self.transport is not None
        self.expect(pending)
        self.transport.write(
            _REQUEST.pack(pending.tid, 0, 6, pending.unit, pending.function, address, pending.count)
        )

    def done(self, future: asyncio.Future[Any]) -> None:
        """The request of `future` ended (answered, failed or cancelled): later bytes answer
        nothing."""
        pending = self._pending
        if pending is not None and pending.future is future:
            self._pending = None

    def data_received(self, data: bytes) -> None:
        if self._junk:
            return
        buffer = self._buffer + data if self._buffer else data
        while len(buffer) >= 7:
            tid, protocol, length, unit = _HEADER.unpack_from(buffer)
            if protocol != 0 or not 2 <= length <= _MAX_LENGTH:
                self._junk = True
                self._buffer = b""
                return
            end = 6 + length
            if len(buffer) < end:
                break
            pending = self._pending
            if pending is not None and tid == pending.tid and unit == pending.unit:
                self._pending = None
                _answer(pending, buffer[7:end])
            buffer = buffer[end:]
        self._buffer = buffer


def _answer(pending: PendingRead, pdu: bytes) -> None:
    """Resolve `pending` with the values in `pdu`, or with why there are none."""
    future = pending.future
    if future.done():  # cancelled by the deadline meanwhile
        return
    function = pdu[0]
    if function == pending.function | 0x80 and len(pdu) == 2:
        future.set_exception(ModbusExceptionResponse(pdu[1], pending.function))
        return
    if function != pending.function:
        future.set_exception(
            ProtocolError(f"answer to function {function}, asked function {pending.function}")
        )
        return
    count = pending.count
    size = 2 * count if pending.registers else (count + 7) // 8
    if len(pdu) < 2 or pdu[1] != len(pdu) - 2 or pdu[1] != size:
        held = len(pdu) - 2
        future.set_exception(
            ProtocolError(
                f"asked for {count} values ({size} bytes), the answer's byte count says "
                f"{pdu[1] if len(pdu) > 1 else 0} and it holds {max(held, 0)}"
            )
        )
        return
    block: Block | bytes
    if pending.frame:  # decoded straight from the frame: no list of registers
        block = pdu[2:]
    elif pending.registers:
        block = list(_REGISTERS[count].unpack_from(pdu, 2))
    else:
        block = [bool(pdu[2 + i // 8] >> (i % 8) & 1) for i in range(count)]
    convert = pending.convert
    if convert is None:
        future.set_result(block)
        return
    try:
        result = convert(block)
    except Exception as exc:  # never out of data_received: the read fails with it
        future.set_exception(ProtocolError(f"undecodable response: {type(exc).__name__}: {exc}"))
        return
    future.set_result(result)


def _no_answer(future: asyncio.Future[Block], limit: float) -> None:
    if not future.done():
        future.set_exception(DeviceTimeout(f"no answer within {limit:g}s"))


class TcpConnection:
    """A Modbus TCP connection of our own framing, with `Connection`'s interface."""

    def __init__(
        self, protocol: ModbusTcpProtocol, answer_timeout: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._protocol = protocol
        # the loop it was opened on, which is the only one it works on; kept, because on
        # Python 3.11 every asyncio.get_running_loop() makes a getpid system call
        self.loop = loop
        self._answer_timeout = answer_timeout  # unless a read brings its own
        self._tid = 0

    @property
    def lost(self) -> bool:
        return self._protocol.lost

    @classmethod
    async def open(cls, config: ModbusConfig, answer_timeout: float) -> TcpConnection:
        """Connect within `answer_timeout`, which also bounds each answer (as pymodbus's
        `timeout` does)."""
        loop = asyncio.get_running_loop()
        where = f"{config.host}:{config.network_port}"
        try:
            async with asyncio.timeout(answer_timeout):
                _, protocol = await loop.create_connection(
                    ModbusTcpProtocol, str(config.host), config.network_port
                )
        except (OSError, TimeoutError) as exc:  # refused, unreachable, timed out: `connection`
            why = described(exc) if str(exc) else "timed out"
            raise DeviceConnectionError(f"cannot connect to {where}: {why}") from None
        return cls(protocol, answer_timeout, loop)

    def send(
        self,
        table: str,
        address: int,
        count: int,
        unit: int,
        convert: Callable[[Any], Any] | None = None,
        *,
        frame: bool = False,
    ) -> asyncio.Future[Any]:
        """Send a request for `count` values from `address` of `table` of unit `unit`: a
        future that gets the block (or `convert(block)`; with `frame`, `convert` of the
        answer's register bytes) or the failure. Unbounded: the caller limits the wait and
        calls `done` when the request ends."""
        protocol = self._protocol
        if protocol.lost:
            raise DeviceConnectionError("connection closed by the device")
        self._tid = self._tid % 0xFFFF + 1
        future: asyncio.Future[Any] = self.loop.create_future()
        pending = PendingRead(self._tid, unit, READ_FUNCTIONS[table], count, future, convert, frame)
        protocol.send(pending, address)
        return future

    def done(self, future: asyncio.Future[Any]) -> None:
        """The request of `future` (from `send`) ended: a late answer to it is skipped."""
        self._protocol.done(future)

    async def read(
        self, table: str, address: int, count: int, unit: int, answer_timeout: float | None = None
    ) -> Block:
        """`count` values from `address` of `table` of unit `unit`, waiting at most
        `answer_timeout` seconds for the answer (None: the connection's)."""
        future: asyncio.Future[Block] = self.send(table, address, count, unit)
        limit = self._answer_timeout if answer_timeout is None else answer_timeout
        # a bare timer, not asyncio.timeout: a quarter of the cost, on every request
        timer = self.loop.call_later(limit, _no_answer, future, limit)
        try:
            return await future
        finally:
            timer.cancel()
            self.done(future)

    def close(self) -> None:
        transport: Any = self._protocol.transport
        self._protocol.lost = True
        if transport is not None:
            transport.close()
