"""Typed device errors: a driver raises one, the cycle records its `reason`.

Shallow on purpose (as httpx's): the reason string is what users and metrics see.
"""

from __future__ import annotations


class DeviceError(Exception):
    """A read failed; `reason` is the short machine-readable cause shown in the cycle."""

    reason: str = "io"

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or "device error")
        if reason is not None:
            self.reason = reason


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""

    reason = "timeout"


class DeviceConnectionError(DeviceError):
    """The device or its line could not be reached (refused, unplugged, closed)."""

    reason = "connection"


class DeviceIOError(DeviceError):
    """Reading or writing the line failed."""

    reason = "io"


class ParseError(DeviceError):
    """The device answered, but the answer could not be understood."""

    reason = "parse"


class ProtocolError(DeviceError):
    """The device answered against the protocol (CRC, framing, exception response)."""

    reason = "protocol"
