"""How each transport opens its `Line`: a serial port through pyserial, a socket through
asyncio.

With `errors.py`, the only module that speaks pyserial(-asyncio-fast) and opens sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import serial_asyncio_fast

from sensorpoll.drivers.errors import map_exceptions
from sensorpoll.drivers.serial.errors import SERIAL_ERRORS, TCP_ERRORS
from sensorpoll.drivers.serial.line import Line, LineProtocol

log = logging.getLogger(__name__)


class SerialLine(Line):
    """A local serial port (RS-232, RS-485 adapter, USB serial) through pyserial."""

    kind = "serial port"

    async def _connect(
        self, protocol: LineProtocol, connect_timeout: float | None
    ) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        with map_exceptions(SERIAL_ERRORS, self.port):
            # serial_for_url runs in the loop's executor: opening can block (USB adapters).
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: protocol, self.port, **dict(self.settings)
            )
        return transport

    def _discard_pending(self, transport: asyncio.Transport) -> None:
        port = transport.get_extra_info("serial")
        with contextlib.suppress(Exception):  # best effort: the kernel's buffer
            port.reset_input_buffer()


class TcpLine(Line):
    """A TCP socket to an instrument (an LXI raw socket) or a serial device server's port,
    on asyncio's own socket transport (no threads).

    A socket has no late answers to wait for: after a timed-out exchange the connection is
    dropped and the next read opens a fresh one. That is also how a half-open socket (the far
    side vanished without a word, so nothing ever arrives) is found: by the deadline.
    """

    kind = "tcp"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"{host}:{port}", ())
        self.host, self.tcp_port = host, port

    async def _connect(
        self, protocol: LineProtocol, connect_timeout: float | None
    ) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        with map_exceptions(TCP_ERRORS, self.port):
            async with asyncio.timeout(connect_timeout):
                transport, _ = await loop.create_connection(
                    lambda: protocol, self.host, self.tcp_port
                )
        return transport

    def _timed_out(self, command: bytes, late_reply_wait: float) -> None:
        # Remembered across the reconnect, so a dead instrument behind a device server lets
        # its neighbours go first (see `unanswered`) until it answers again.
        self._silent.add(command)
        transport = self._transport
        if transport is not None:
            log.debug("%s: no answer before the deadline; dropping the connection", self.port)
            transport.abort()

    def _forget_debts(self) -> None:
        # The fresh connection carries no late answer; who went unanswered still holds.
        self._owed = None
