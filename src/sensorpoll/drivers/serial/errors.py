"""The one place pyserial and OS failures of a serial port become our `DeviceError` reasons.

The line wraps opening the port in `map_exceptions(SERIAL_ERRORS, port)`.
"""

from __future__ import annotations

import errno

import serial

from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceIOError,
    ExceptionTable,
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
)
