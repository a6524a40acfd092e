"""The one place pyserial, socket and instrument failures become our `DeviceError` reasons.

The line wraps opening a port in `map_exceptions(SERIAL_ERRORS, port)` and connecting a
socket in `map_exceptions(TCP_ERRORS, "host:port")`.
"""

from __future__ import annotations

import errno
import termios

import serial

from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceIOError,
    ExceptionTable,
    described,
)

# errnos that mean "the port is not there (any more)", not "the transfer went wrong"
_CONNECTION_ERRNOS = {
    errno.ENOENT,
    errno.ENODEV,
    errno.ENXIO,
    errno.EIO,
    errno.EACCES,
    errno.EPERM,
    errno.EBUSY,
    errno.EBADF,
}


def _port_failure(exc: Exception) -> DeviceError:
    if getattr(exc, "errno", None) in _CONNECTION_ERRNOS:
        return DeviceConnectionError(str(exc))
    return DeviceIOError(str(exc))


SERIAL_ERRORS: ExceptionTable = (
    (serial.PortNotOpenError, lambda exc: DeviceConnectionError(str(exc))),
    ((serial.SerialException, OSError), _port_failure),
    (ValueError, lambda exc: DeviceIOError(str(exc))),  # pyserial's word for refused settings
    # line settings the port itself refuses (a pty with parity, on some kernels)
    (termios.error, lambda exc: DeviceIOError(f"line settings refused: {described(exc)}")),
)


TCP_ERRORS: ExceptionTable = (
    (TimeoutError, lambda exc: DeviceConnectionError("connect timed out")),
    # refused, reset, unreachable, name not resolved: the instrument cannot be reached
    (OSError, lambda exc: DeviceConnectionError(described(exc))),
)


class InstrumentError(DeviceError):
    """The instrument reported an error of its own (SCPI's error queue, `SYST:ERR?`)."""

    reason = "instrument_error"
