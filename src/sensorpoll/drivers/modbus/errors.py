"""The one place pymodbus (and pyserial) failures become our `DeviceError` reasons.

As httpx's `map_exceptions`: the driver wraps every pymodbus call in `map_exceptions()`.
"""

from __future__ import annotations

import termios
from types import TracebackType

from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceIOError,
    DeviceTimeout,
    ProtocolError,
)
from sensorpoll.drivers.modbus.compat import is_missing_answer


class ModbusExceptionResponse(ProtocolError):
    """The device answered with a Modbus exception (illegal address, busy, ...)."""

    def __init__(self, code: int, function: int) -> None:
        super().__init__(
            f"exception response {code} ({EXCEPTION_NAMES.get(code, 'unknown')}) "
            f"to function {function}",
            reason=f"modbus_exception:{code}",
        )
        self.code = code


EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}


def keeps_connection(exc: BaseException) -> bool:
    """Whether the line is still in sync after `exc`: only a well-formed exception response
    proves it. After anything else (timeouts, junk, cancellation) the connection is dropped."""
    return isinstance(exc, ModbusExceptionResponse)


class map_exceptions:
    """Context manager: pymodbus/pyserial/asyncio exceptions raised inside become `DeviceError`s.

    A class rather than a @contextmanager generator: it wraps every request, and this is
    several times cheaper per use."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, DeviceError) or not isinstance(exc, Exception):
            return  # nothing to map; cancellation and exits pass through
        raise _mapped(exc) from exc


def _mapped(exc: Exception) -> DeviceError:
    if isinstance(exc, ConnectionException):
        return DeviceConnectionError(str(exc) or "not connected")
    if isinstance(exc, ModbusIOException):
        if is_missing_answer(exc):
            return DeviceTimeout(str(exc))
        return ProtocolError(str(exc))
    if isinstance(exc, ModbusException):
        return ProtocolError(str(exc))
    if isinstance(exc, TimeoutError):
        return DeviceTimeout(str(exc) or "no answer")
    if isinstance(exc, ConnectionError):
        return DeviceConnectionError(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError | termios.error):  # incl. serial.SerialException; termios:
        return DeviceIOError(str(exc) or type(exc).__name__)  # line settings the port refuses
    # anything else is a malformed answer pymodbus could not decode
    return ProtocolError(f"undecodable response: {type(exc).__name__}: {exc}")
