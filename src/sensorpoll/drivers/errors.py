"""Typed device errors: a driver raises one, the cycle records its `reason`.

Shallow on purpose (as httpx's): the reason string is what users and metrics see. Each
driver turns its library's exceptions into these in one `map_exceptions` table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType


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


ErrorTranslation = Callable[[Exception], DeviceError]
ExceptionTable = Sequence[tuple[type[Exception] | tuple[type[Exception], ...], ErrorTranslation]]
"""A driver's exception mapping: (the library's exception classes, how each becomes a
`DeviceError`), first match wins, so specific rows come before general ones. An exception
that no row matches passes through unchanged."""


class map_exceptions:
    """Context manager: exceptions raised inside become `DeviceError`s by a driver's table.

    `DeviceError`s, cancellation and exits pass through. `where` (e.g. the port) is put in
    front of the message unless it already names it. A class rather than a @contextmanager
    generator: it wraps every request, and this is several times cheaper per use.
    """

    __slots__ = ("_table", "_where")

    def __init__(self, table: ExceptionTable, where: str = "") -> None:
        self._table = table
        self._where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, DeviceError) or not isinstance(exc, Exception):
            return
        for kinds, translate in self._table:
            if isinstance(exc, kinds):
                mapped = translate(exc)
                where = self._where
                if where and where not in str(mapped):
                    mapped.args = (f"{where}: {mapped}",)
                raise mapped from exc


def described(exc: BaseException) -> str:
    """The exception's message, or its class name when it has none."""
    return str(exc) or type(exc).__name__
