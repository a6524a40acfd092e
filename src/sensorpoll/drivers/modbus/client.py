"""One pymodbus client per line: create, connect, read a block, close.

The only module that builds pymodbus clients; everything it raises goes through `map_exceptions`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from pymodbus.client import (
    AsyncModbusSerialClient,
    AsyncModbusTcpClient,
    AsyncModbusUdpClient,
)
from pymodbus.framer import FramerType

from sensorpoll.drivers.errors import DeviceConnectionError, DeviceTimeout, ProtocolError
from sensorpoll.drivers.modbus import compat
from sensorpoll.drivers.modbus.codec import Block
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.errors import ModbusExceptionResponse, map_exceptions
from sensorpoll.drivers.modbus.wire import fails_crc

REGISTER_TABLES = frozenset({"holding", "input"})


def make_client(
    config: ModbusConfig,
    timeout: float,
    on_connect: Callable[[bool], None] | None = None,
    on_packet: Callable[[bool, bytes], bytes] | None = None,
) -> Any:
    """A pymodbus client for `config`'s line. retries=0 and no automatic reconnect: deadlines
    and reconnects are ours."""
    common: dict[str, Any] = {
        "timeout": timeout,
        "retries": 0,
        "reconnect_delay": 0,
        "trace_connect": on_connect,
        "trace_packet": on_packet,
    }
    if config.transport in ("rtu", "ascii"):
        framer = FramerType.RTU if config.transport == "rtu" else FramerType.ASCII
        return AsyncModbusSerialClient(
            str(config.port),
            framer=framer,
            baudrate=config.baudrate,
            parity=config.parity,
            stopbits=config.stopbits,
            bytesize=config.bytesize,
            **common,
        )
    host = str(config.host)
    if config.transport == "udp":
        return AsyncModbusUdpClient(host, port=config.network_port, **common)
    framer = FramerType.RTU if config.transport == "rtu-over-tcp" else FramerType.SOCKET
    return AsyncModbusTcpClient(host, port=config.network_port, framer=framer, **common)


class Connection:
    """A connected pymodbus client. Closing it releases its socket or serial port.

    pymodbus does not fail a pending request when the other side closes the connection (it
    waits for its timeout), so a read also watches for the connection being lost.
    """

    def __init__(self) -> None:
        self._client: Any = None
        # set by pymodbus's connection-lost callback and by close(): a flag the line tests per
        # read, rather than a property chain into pymodbus
        self.lost = True
        self._reader: asyncio.Task[Any] | None = None  # the task waiting for an answer
        self._hung_up_on_reader = False
        self._ask: dict[str, Callable[..., Awaitable[Any]]] = {}
        # RTU framing: what pymodbus last had in its receive buffer since the last request.
        # pymodbus drops a frame whose CRC fails without a word, so the request times out;
        # this tells that timeout apart (reason `crc`) from a unit that did not answer.
        self._received = b""

    def _on_packet(self, sending: bool, data: bytes) -> bytes:
        self._received = b"" if sending else data
        return data

    def _on_connect(self, up: bool) -> None:
        if up:
            return
        self.lost = True
        if self._reader is not None:  # fail the pending request now, not at its timeout
            self._hung_up_on_reader = True
            self._reader.cancel()

    @classmethod
    async def open(cls, config: ModbusConfig, answer_timeout: float) -> Connection:
        connection = cls()
        rtu_framed = config.transport in ("rtu", "rtu-over-tcp")
        client = connection._client = make_client(
            config,
            answer_timeout,
            connection._on_connect,
            connection._on_packet if rtu_framed else None,
        )
        try:
            with map_exceptions():
                connected = await compat.connect(client)
        except BaseException:
            client.close()
            raise
        if not connected:
            client.close()
            where = config.port if config.serial else f"{config.host}:{config.network_port}"
            raise DeviceConnectionError(f"cannot connect to {where}")
        connection._ask = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }
        connection.lost = False
        return connection

    async def read(
        self, table: str, address: int, count: int, unit: int, answer_timeout: float | None = None
    ) -> Block:
        """`count` values from `address` of `table` of unit `unit`, waiting at most
        `answer_timeout` seconds for the answer (None: pymodbus's timeout, the deadline)."""
        if self.lost:
            raise DeviceConnectionError("connection closed by the device")
        task = self._reader = asyncio.current_task()
        try:
            if answer_timeout is None:
                # no timer of our own (pymodbus's timeout is the deadline): asyncio.timeout
                # costs ~4 us a request, 6% of bench/modbus_overhead.py's figure
                response = await self._request(table, address, count, unit, task)
            else:
                async with asyncio.timeout(answer_timeout):
                    response = await self._request(table, address, count, unit, task)
        except (TimeoutError, DeviceTimeout):
            if self._received and fails_crc(self._received, unit, table, count):
                raise ProtocolError(
                    f"the answer failed its CRC check: {self._received.hex(' ')}", reason="crc"
                ) from None
            raise
        finally:
            self._reader = None
        return self._values(response, table, count)

    async def _request(
        self, table: str, address: int, count: int, unit: int, task: asyncio.Task[Any] | None
    ) -> Any:
        try:
            return await self._ask[table](address, count=count, device_id=unit)
        except BaseException as exc:
            # inside any timeout of the request's own: a cancellation pymodbus disguised must
            # be one again before asyncio.timeout looks at it
            self._failed(exc, task)

    def _failed(self, exc: BaseException, task: asyncio.Task[Any] | None) -> NoReturn:
        """Raise what a request that raised `exc` fails with."""
        if compat.is_cancellation(exc, task):
            hung_up, self._hung_up_on_reader = self._hung_up_on_reader, False
            if hung_up and task is not None and task.uncancel() == 0:
                raise DeviceConnectionError("connection closed by the device mid-request") from None
            if isinstance(exc, asyncio.CancelledError):
                raise exc
            raise asyncio.CancelledError() from exc
        with map_exceptions():
            raise exc

    def _values(self, response: Any, table: str, count: int) -> Block:
        """The values of a pymodbus response to a request of `count` from `table`."""
        try:
            if response.isError():
                raise ModbusExceptionResponse(
                    int(getattr(response, "exception_code", 0)),
                    int(getattr(response, "function_code", 0)) & 0x7F,
                )
            values: Block = response.registers if table in REGISTER_TABLES else response.bits
        except BaseException as exc:
            self._failed(exc, None)
        if len(values) != count:
            if len(values) < count:
                raise ProtocolError(
                    f"asked for {count} {table} values, the answer holds {len(values)}"
                )
            values = values[:count]  # bits come padded to whole bytes
        return values

    def close(self) -> None:
        self.lost = True
        self._client.close()
