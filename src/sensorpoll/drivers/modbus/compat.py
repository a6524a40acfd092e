"""Everything sensorpoll takes from pymodbus beyond its public API, in one place.

Each shim names the pymodbus versions it is for; tests/drivers/modbus/test_compat.py has a test
per shim that fails when a pymodbus release breaks it. The rest of drivers/modbus uses only
pymodbus's documented API (client and server classes, their arguments, responses, exceptions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

import pymodbus
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import ModbusIOException, NoSuchIdException

# pymodbus logs every missed answer (and a server's failed bind) at ERROR or WARNING; the poll
# loop logs a device going down and coming back once, and `simulate` says why it cannot start,
# so keep pymodbus quiet unless someone configured its logger. Here: every module that uses
# pymodbus imports this one.
_pymodbus_log = logging.getLogger("pymodbus")
if _pymodbus_log.level == logging.NOTSET:
    _pymodbus_log.setLevel(logging.CRITICAL)

PYMODBUS_VERSION: tuple[int, int] = (
    int(pymodbus.__version__.split(".")[0]),
    int(pymodbus.__version__.split(".")[1]),
)


async def connect(client: Any) -> bool:
    """`client.connect()` without the fixed 100 ms sleep pymodbus 3.12-3.15 add after it
    (every reconnect of a shared serial line would pay it): there, the transaction manager's
    own `connect()`, which is all `client.connect()` does besides. 3.16: `client.connect()`."""
    if PYMODBUS_VERSION >= (3, 16):
        connected: bool = await client.connect()
        return connected
    client.ctx.reset_delay()
    connected = await client.ctx.connect()
    return connected


def is_cancellation(exc: BaseException, task: asyncio.Task[Any] | None) -> bool:
    """Whether `exc`, raised by a request running in `task`, is that task being cancelled.

    pymodbus 3.12-3.15 turn a cancellation inside a request into
    `ModbusIOException("Request cancelled outside library.")`; only the text and the task's
    pending cancellation tell it from a failed request. 3.16 lets the CancelledError through."""
    if isinstance(exc, asyncio.CancelledError):
        return True
    return (
        isinstance(exc, ModbusIOException)
        and task is not None
        and task.cancelling() > 0
        and "cancelled" in str(exc)
    )


def is_missing_answer(exc: Exception) -> bool:
    """Whether a request failed because no answer came (rather than a mismatched one).

    pymodbus 3.12-3.16 raise ModbusIOException for both; only the text ("No response
    received ...") tells them apart."""
    return "No response" in str(exc)


class UnitTables(Protocol):
    """One simulated unit's tables, as the server context reads them."""

    def read(self, table: str, address: int, count: int) -> list[int] | list[bool] | None:
        """`count` values from `address` of `table`; None if any of them is not mapped."""


_TABLE_OF_FUNCTION = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input"}


class ImageContext(ModbusServerContext):
    """A read-only pymodbus server context over our own unit tables, for pymodbus 3.12-3.16.

    The datastore classes' API changed within 3.x (3.15/3.16 route `ModbusDeviceContext`
    through a new simulator), so this implements the interface the servers call instead
    (`async_getValues`, `async_setValues`, `device_ids`) and skips `super().__init__`, which
    insists on datastore objects. It sets the attributes the servers read: `old_simulator`
    (3.15+: "serve this context as it is"), `simdevices` (3.13+), `single`. An unknown unit
    raises NoSuchIdException, which the servers turn into silence (`ignore_missing_devices`)
    or a gateway exception."""

    def __init__(self, units: Mapping[int, UnitTables]) -> None:  # no super(): see above
        self.units = dict(units)
        self.old_simulator = True
        self.simdevices: list[Any] = []
        self.single = False

    def device_ids(self) -> list[int]:
        return list(self.units)

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        unit = self.units.get(device_id)
        if unit is None:
            raise NoSuchIdException(f"no unit {device_id}")  # type: ignore[no-untyped-call,unused-ignore]
        values = unit.read(_TABLE_OF_FUNCTION.get(func_code, "holding"), address, count)
        return ExcCodes.ILLEGAL_ADDRESS if values is None else values

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: Any
    ) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_FUNCTION  # a simulated sensor is read-only


def listening_address(server: Any) -> tuple[str, int]:
    """Where a started pymodbus TCP or UDP server listens (port 0 picks a free one).

    pymodbus 3.12-3.16 keep the asyncio server (TCP) or datagram transport (UDP) in the
    undocumented `server.transport`."""
    transport = server.transport
    sockets = getattr(transport, "sockets", None)  # a listening server (TCP); any event loop's
    sockname = sockets[0].getsockname() if sockets else transport.get_extra_info("sockname")
    host, port = sockname[:2]
    return str(host), int(port)
