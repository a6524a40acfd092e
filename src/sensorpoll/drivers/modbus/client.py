"""One pymodbus client per line: create, connect, read a block, close.

The only module that builds pymodbus clients; everything it raises goes through `map_exceptions`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus.client import (
    AsyncModbusSerialClient,
    AsyncModbusTcpClient,
    AsyncModbusUdpClient,
)
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerType

from sensorpoll.drivers.errors import DeviceConnectionError, ProtocolError
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.errors import ModbusExceptionResponse, map_exceptions

# pymodbus logs every missed answer at ERROR; the poll loop already logs a device going down
# and coming back once, so keep pymodbus quiet unless someone configured its logger.
_pymodbus_log = logging.getLogger("pymodbus")
if _pymodbus_log.level == logging.NOTSET:
    _pymodbus_log.setLevel(logging.CRITICAL)

Block = list[int] | list[bool]
REGISTER_TABLES = frozenset({"holding", "input"})


def make_client(
    config: ModbusConfig, timeout: float, on_connect: Callable[[bool], None] | None = None
) -> Any:
    """A pymodbus client for `config`'s line. retries=0 and no automatic reconnect: deadlines
    and reconnects are ours."""
    common: dict[str, Any] = {
        "timeout": timeout,
        "retries": 0,
        "reconnect_delay": 0,
        "trace_connect": on_connect,
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


def _is_cancellation(exc: BaseException, task: asyncio.Task[Any] | None) -> bool:
    """Whether `exc` is our task being cancelled. pymodbus 3.12 turns a cancellation inside a
    request into ModbusIOException("Request cancelled outside library."); that is undone here so
    asyncio.timeout (the device deadline) still sees a cancellation."""
    if isinstance(exc, asyncio.CancelledError):
        return True
    return task is not None and task.cancelling() > 0 and "cancelled" in str(exc)


class Connection:
    """A connected pymodbus client. Closing it releases its socket or serial port.

    pymodbus does not fail a pending request when the other side closes the connection (it
    waits for its timeout), so a read also watches for the connection being lost.
    """

    def __init__(self) -> None:
        self._client: Any = None
        self._lost = False
        self._reader: asyncio.Task[Any] | None = None  # the task waiting for an answer
        self._hung_up_on_reader = False

    def _on_connect(self, up: bool) -> None:
        if up:
            return
        self._lost = True
        if self._reader is not None:  # fail the pending request now, not at its timeout
            self._hung_up_on_reader = True
            self._reader.cancel()

    @classmethod
    async def open(cls, config: ModbusConfig, answer_timeout: float) -> Connection:
        connection = cls()
        client = connection._client = make_client(config, answer_timeout, connection._on_connect)
        try:
            with map_exceptions():
                # what client.connect() does, minus the fixed 100 ms sleep pymodbus 3.12 adds
                # after it (every reconnect of a shared serial line would pay it)
                client.ctx.reset_delay()
                connected = await client.ctx.connect()
        except BaseException:
            client.close()
            raise
        if not connected:
            client.close()
            where = config.port if config.serial else f"{config.host}:{config.network_port}"
            raise DeviceConnectionError(f"cannot connect to {where}")
        connection._lost = False
        return connection

    @property
    def connected(self) -> bool:
        return bool(self._client.connected) and not self._lost

    def _request(self, table: str, address: int, count: int, unit: int) -> Awaitable[Any]:
        client = self._client
        if table == "holding":
            return client.read_holding_registers(address, count=count, device_id=unit)  # type: ignore[no-any-return]
        if table == "input":
            return client.read_input_registers(address, count=count, device_id=unit)  # type: ignore[no-any-return]
        if table == "coil":
            return client.read_coils(address, count=count, device_id=unit)  # type: ignore[no-any-return]
        return client.read_discrete_inputs(address, count=count, device_id=unit)  # type: ignore[no-any-return]

    async def read(self, table: str, address: int, count: int, unit: int) -> Block:
        with map_exceptions():
            if self._lost:
                raise DeviceConnectionError("connection closed by the device")
            task = self._reader = asyncio.current_task()
            try:
                response = await self._request(table, address, count, unit)
            except (asyncio.CancelledError, ModbusIOException) as exc:
                if not _is_cancellation(exc, task):
                    raise
                hung_up, self._hung_up_on_reader = self._hung_up_on_reader, False
                if hung_up and task is not None and task.uncancel() == 0:
                    raise DeviceConnectionError(
                        "connection closed by the device mid-request"
                    ) from None
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise asyncio.CancelledError() from exc
            finally:
                self._reader = None
            if response.isError():
                raise ModbusExceptionResponse(
                    int(getattr(response, "exception_code", 0)),
                    int(getattr(response, "function_code", 0)) & 0x7F,
                )
            values: Block = response.registers if table in REGISTER_TABLES else response.bits
        if len(values) != count:
            if len(values) < count:
                raise ProtocolError(
                    f"asked for {count} {table} values, the answer holds {len(values)}"
                )
            values = values[:count]  # bits come padded to whole bytes
        return values

    def close(self) -> None:
        self._client.close()
