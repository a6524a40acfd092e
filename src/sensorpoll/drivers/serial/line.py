"""The line instruments share: open, reopen, send, read replies, handshakes, late answers.

A `Line` is the connection of its `Bus`; the driver holds the bus's turn while it uses it.
How a serial port or a socket is opened is in `transports.py`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from typing import Any

from sensorpoll.drivers.clock import clock_slack
from sensorpoll.drivers.errors import DeviceConnectionError, ParseError
from sensorpoll.drivers.serial.reply import shown_bytes

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 4096  # a "reply" longer than this without its terminator is garbage
CLOSE_TIMEOUT = 2.0  # closing runs in an executor thread; never wait on it forever

LineSettings = tuple[tuple[str, Any], ...]


class LineProtocol(asyncio.Protocol):
    """Collects received bytes; wakes the reader; notes when the port goes away."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.changed = asyncio.Event()
        self.lost: str | None = None  # why the connection ended, once it has
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = str(exc) if exc is not None else "closed by the other end"
        self.changed.set()
        if not self.closed.done():
            self.closed.set_result(None)


class Line(abc.ABC):
    """One line, opened on demand and reopened after it goes away; the Bus's connection.

    Keeps what is true of the line rather than of one device: received bytes, which devices
    have been initialised on this connection, and answers still owed to timed-out commands.
    Subclasses open the port or socket (`_connect`).
    """

    kind = "line"  # how logs name it

    def __init__(self, port: str, settings: LineSettings) -> None:
        self.port = port  # the line's name: a device path, or host:port
        self.settings = settings
        self.prepared: set[object] = set()  # devices' init/identify done on this connection
        self._transport: asyncio.Transport | None = None
        self._protocol: LineProtocol | None = None
        self._opening: asyncio.Task[None] | None = None
        self._owed: tuple[bytes, float] | None = None  # a timed-out command, its answer's limit
        self._silent: set[bytes] = set()  # commands whose late answer never came: dead devices
        self._was_lost = False

    @property
    def is_open(self) -> bool:
        return self._protocol is not None and self._protocol.lost is None

    async def ensure_open(self, connect_timeout: float | None = None) -> None:
        """Open the line if it is not open (first use, or after it went away);
        `connect_timeout` bounds a TCP connect (a slower one is error `connection`)."""
        if self.is_open:
            return
        opening = self._opening
        if opening is None:
            opening = self._opening = asyncio.get_running_loop().create_task(
                self._open(connect_timeout), name=f"open:{self.port}"
            )
        # Shielded: a deadline that cancels us must not abandon a half-opened port (a serial
        # open runs in an executor thread and would leak its fd); the next read picks it up.
        try:
            await asyncio.shield(opening)
        finally:
            if opening.done() and self._opening is opening:
                self._opening = None

    async def _open(self, connect_timeout: float | None) -> None:
        lost = self._protocol is not None and self._protocol.lost is not None
        self._was_lost = self._was_lost or lost
        if self._transport is not None:
            await self._close_transport()
        protocol = LineProtocol()
        transport = await self._connect(protocol, connect_timeout)
        self._transport, self._protocol = transport, protocol
        self.prepared.clear()
        self._forget_debts()
        if self._was_lost:
            log.info("%s %s reopened", self.kind, self.port)
        self._was_lost = False

    async def aclose(self) -> None:
        """Close the port; idempotent."""
        opening, self._opening = self._opening, None
        if opening is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(opening), CLOSE_TIMEOUT)
        await self._close_transport()

    async def _close_transport(self) -> None:
        transport, protocol = self._transport, self._protocol
        self._transport = self._protocol = None
        if transport is None or protocol is None:
            return
        if protocol.lost is None:
            transport.abort()  # no flush: a request/response line has nothing worth sending
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(protocol.closed), CLOSE_TIMEOUT)

    def _connected(self) -> tuple[asyncio.Transport, LineProtocol]:
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            raise DeviceConnectionError(f"{self.port}: not open")
        if protocol.lost is not None:
            self._was_lost = True
            raise DeviceConnectionError(f"{self.port}: {protocol.lost}")
        return transport, protocol

    @abc.abstractmethod
    async def _connect(
        self, protocol: LineProtocol, connect_timeout: float | None
    ) -> asyncio.Transport:
        """Open the port or socket with `protocol` receiving its bytes."""

    def _timed_out(self, command: bytes, late_reply_wait: float) -> None:
        """A deadline cancelled `command`'s exchange after it was sent: its answer is owed
        for `late_reply_wait` seconds, and the next command waits for it (see `_settle`),
        unless that command's late answer already failed to come once (a dead instrument
        must not hold up its neighbours every cycle)."""
        if command not in self._silent:
            loop = asyncio.get_running_loop()
            # slack: on uvloop's millisecond clock the wait could end a tick short
            self._owed = (command, loop.time() + late_reply_wait + clock_slack(loop))

    def discard_input(self) -> None:
        """Drop whatever arrived unasked (noise, leftovers) before sending a command."""
        transport, protocol = self._connected()
        stale = bytes(protocol.buffer)
        protocol.buffer.clear()
        self._discard_pending(transport)
        if stale:
            log.debug("%s: discarded %d stale bytes %s", self.port, len(stale), shown_bytes(stale))

    def send(self, data: bytes) -> None:
        transport, _ = self._connected()
        transport.write(data)

    def unanswered(self, command: bytes) -> bool:
        """Whether `command` went unanswered last time it was sent on this connection."""
        return command in self._silent or (self._owed is not None and self._owed[0] == command)

    def _discard_pending(self, transport: asyncio.Transport) -> None:
        """Drop what the operating system holds but has not delivered yet, where it can."""
        return  # a socket delivers everything it holds to the protocol: nothing left to drop

    def _forget_debts(self) -> None:
        """A reopened port owes nothing, and every instrument on it gets a fresh chance."""
        self._owed = None
        self._silent.clear()

    async def exchange(
        self,
        command: bytes,
        terminator: bytes,
        *,
        echo: bool,
        late_reply_wait: float,
        expect: bytes | None = None,
        then: bytes | None = None,
    ) -> bytes:
        """Send `command`, return the reply without its terminator (echo skipped if asked).

        With `expect`, the instrument first answers exactly that (an ACK); then `then`, if
        given, is sent (an ENQ), and the reply follows. Anything else (a NAK) is a
        `ParseError` naming what arrived. If cancelled (the loop's deadline) after sending,
        see `_timed_out`: with `late_reply_wait` 0 nothing is owed.
        """
        await self._settle(terminator)
        self.discard_input()
        self.send(command)
        try:
            if echo:
                await self._skip_echo(command)
            if expect is not None:
                got = await self._read_expected(expect, terminator)
                if got != expect:
                    raise ParseError(
                        f"expected {shown_bytes(expect)} after {shown_bytes(command)}, got "
                        f"{shown_bytes(got)}{_control_names(got)}"
                    )
                if then is not None:
                    self.send(then)
                    if echo:
                        await self._skip_echo(then)
            reply = await self._read_until(terminator)
        except asyncio.CancelledError:
            if late_reply_wait > 0:
                self._timed_out(command, late_reply_wait)
            raise
        self._silent.discard(command)
        return reply

    async def _skip_echo(self, sent: bytes) -> None:
        got = await self._read_exactly(len(sent))
        if got != sent:
            raise ParseError(f"expected the echo {sent!r}, got {shown_bytes(got)}")

    async def _read_expected(self, expect: bytes, terminator: bytes) -> bytes:
        """What arrives where `expect` should: a line if `expect` is one, else as many bytes."""
        if expect.endswith(terminator):
            return await self._read_until(terminator) + terminator
        return await self._read_exactly(len(expect))

    async def _settle(self, terminator: bytes) -> None:
        """Hold the next command back while a timed-out command's answer may still come.

        Sent earlier, the command's own reply could not be told from that late answer (both
        are lines of the same shape), and the late one would pass for a fresh reading. Waits
        until the late answer has arrived (it is dropped) or its time is up; a deadline that
        cancels the wait leaves the debt for the next read.
        """
        loop = asyncio.get_running_loop()
        while self._owed is not None:
            command, until = self._owed
            _, protocol = self._connected()
            end = protocol.buffer.find(terminator)
            if end >= 0:
                late = bytes(protocol.buffer[:end])
                del protocol.buffer[: end + len(terminator)]
                log.debug("%s: dropped a late answer %s", self.port, shown_bytes(late))
                self._owed = None
                self._silent.discard(command)
                return
            remaining = until - loop.time()
            if remaining <= 0:
                self._owed = None
                self._silent.add(command)
                return
            protocol.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await protocol.changed.wait()

    async def _read_until(self, terminator: bytes) -> bytes:
        while True:
            _, protocol = self._connected()
            end = protocol.buffer.find(terminator)
            if end >= 0:
                reply = bytes(protocol.buffer[:end])
                del protocol.buffer[: end + len(terminator)]
                return reply
            if len(protocol.buffer) > MAX_REPLY_BYTES:
                garbage = bytes(protocol.buffer)
                protocol.buffer.clear()
                raise ParseError(
                    f"no terminator {terminator!r} in {len(garbage)} bytes: {shown_bytes(garbage)}"
                )
            protocol.changed.clear()
            await protocol.changed.wait()

    async def _read_exactly(self, count: int) -> bytes:
        while True:
            _, protocol = self._connected()
            if len(protocol.buffer) >= count:
                data = bytes(protocol.buffer[:count])
                del protocol.buffer[:count]
                return data
            protocol.changed.clear()
            await protocol.changed.wait()


_CONTROL_NAMES = {0x06: "ACK", 0x15: "NAK", 0x05: "ENQ", 0x02: "STX", 0x03: "ETX", 0x04: "EOT"}


def _control_names(data: bytes) -> str:
    """' (NAK)' and the like: the handshake characters in `data`, by name."""
    names = [_CONTROL_NAMES[b] for b in data if b in _CONTROL_NAMES]
    return f" ({', '.join(names)})" if names else ""
