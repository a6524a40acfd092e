"""The one place pymodbus (and pyserial) failures become our `DeviceError` reasons.

As httpx's `map_exceptions`: the driver wraps every pymodbus call in `map_exceptions()`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager

from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceIOError,
    DeviceTimeout,
    ProtocolError,
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


@contextmanager
def map_exceptions() -> Iterator[None]:
    try:
        yield
    except DeviceError:
        raise
    except ConnectionException as exc:
        raise DeviceConnectionError(str(exc) or "not connected") from exc
    except ModbusIOException as exc:
        # pymodbus reports a missing answer and a mismatched one with the same class
        if "No response" in str(exc):
            raise DeviceTimeout(str(exc)) from exc
        raise ProtocolError(str(exc)) from exc
    except ModbusException as exc:
        raise ProtocolError(str(exc)) from exc
    except TimeoutError as exc:
        raise DeviceTimeout(str(exc) or "no answer") from exc
    except ConnectionError as exc:
        raise DeviceConnectionError(str(exc) or type(exc).__name__) from exc
    except OSError as exc:  # includes serial.SerialException
        raise DeviceIOError(str(exc) or type(exc).__name__) from exc
    except (struct.error, ValueError, IndexError, KeyError, AttributeError) as exc:
        # a malformed answer pymodbus could not decode
        raise ProtocolError(f"undecodable response: {type(exc).__name__}: {exc}") from exc
