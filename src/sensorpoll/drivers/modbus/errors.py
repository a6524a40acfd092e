"""The one place pymodbus (and pyserial) failures become our `DeviceError` reasons.

As httpx's `map_exceptions`: the driver wraps every pymodbus call in `map_exceptions()`, the
shared mapper of `drivers.errors` with this driver's table.
"""

from __future__ import annotations

import functools
import termios

from sensorpoll.drivers import errors
from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceIOError,
    DeviceTimeout,
    ExceptionTable,
    ProtocolError,
    described,
)


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


def _io_failure(exc: Exception) -> DeviceError:
    from sensorpoll.drivers.modbus.compat import is_missing_answer  # pymodbus: see above

    if is_missing_answer(exc):
        return DeviceTimeout(str(exc))
    return ProtocolError(str(exc))


def _undecodable(exc: Exception) -> DeviceError:
    return ProtocolError(f"undecodable response: {type(exc).__name__}: {exc}")


@functools.cache
def modbus_errors() -> ExceptionTable:
    """The table: pymodbus's exceptions, then the stdlib's. Built on first use, so a daemon
    whose Modbus devices are all TCP (framed by `tcp.py`) never imports pymodbus."""
    from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

    return (
        (ConnectionException, lambda exc: DeviceConnectionError(str(exc) or "not connected")),
        (ModbusIOException, _io_failure),
        (ModbusException, lambda exc: ProtocolError(str(exc))),
        (TimeoutError, lambda exc: DeviceTimeout(str(exc) or "no answer")),
        (ConnectionError, lambda exc: DeviceConnectionError(described(exc))),
        # incl. serial.SerialException; termios: line settings the port refuses
        ((OSError, termios.error), lambda exc: DeviceIOError(described(exc))),
        # anything else is a malformed answer pymodbus could not decode
        (Exception, _undecodable),
    )


def map_exceptions() -> errors.map_exceptions:
    """Context manager: pymodbus/pyserial/asyncio exceptions raised inside become
    `DeviceError`s, by `modbus_errors()`."""
    return errors.map_exceptions(modbus_errors())
