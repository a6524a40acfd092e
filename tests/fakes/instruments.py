"""Emulated ASCII instruments on pseudo-terminals and loopback sockets, with real faults.

A `FakeLine` is one port (a pty linked at a path the config names); each command it receives
(up to `command_end`, or any of several ends) is answered by `answer(command) -> reply bytes
| None` after `delay`, optionally echoed, split into chunks, or not at all.
`unplug()`/`replug()` tear the pty down and recreate it at the same path, as a USB adapter
pulled and plugged back in. A `FakeSocket` is the same instrument behind a TCP port on
loopback (an LXI instrument, or a device server's port): it can go `down()` (refused),
`mute` (accepts, never answers), or `reset_after` a few bytes of a reply.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from sensorpoll.drivers.pty import PtyPort

Answer = Callable[[bytes], bytes | None]


class FakeLine:
    def __init__(
        self,
        link: Path,
        answer: Answer,
        *,
        command_end: bytes | tuple[bytes, ...] = b"\r\n",
        delay: float = 0.0,
        echo: bool = False,
        chunks: int = 1,
        chunk_pause: float = 0.02,
    ) -> None:
        self.link = link
        self.answer = answer
        self.command_end = command_end
        self.delay = delay
        self.echo = echo
        self.chunks = chunks
        self.chunk_pause = chunk_pause
        self.received: list[bytes] = []
        self.events: list[tuple[float, str, bytes]] = []  # as FakeSocket's
        self._buffer = bytearray()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pty = PtyPort(self._data, link)

    async def __aenter__(self) -> Self:
        self._pty.open()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pty.close()

    @property
    def pty_path(self) -> str:
        """The pty's /dev/pts/N (the link's target)."""
        return self._pty.path

    def unplug(self) -> None:
        self._pty.close()

    def replug(self) -> None:
        self._pty = PtyPort(self._data, self.link)
        self._pty.open()

    def write(self, data: bytes) -> None:
        """Bytes on the line, unasked (noise, a late answer)."""
        self._pty.write(data)

    def _data(self, data: bytes) -> None:
        self._buffer += data
        while (command := next_command(self._buffer, self.command_end)) is not None:
            self.received.append(command)
            self.events.append((asyncio.get_running_loop().time(), "command", command))
            if self.echo:
                self._pty.write(command)
            reply = self.answer(command)
            if reply is not None:
                task = asyncio.get_running_loop().create_task(self._send(reply, self.delay))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, reply: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        size = max(1, -(-len(reply) // self.chunks))
        for i in range(0, len(reply), size):
            if i:
                await asyncio.sleep(self.chunk_pause)
            self._pty.write(reply[i : i + size])
        self.events.append((asyncio.get_running_loop().time(), "reply", reply))


def fixed(reply: bytes) -> Answer:
    """Answers every command with `reply`."""
    return lambda command: reply


def counting(template: str) -> Answer:
    """Answers the n-th command with `template.format(n=n)`: shows which command a reply is
    for."""
    count = 0

    def answer(command: bytes) -> bytes:
        nonlocal count
        count += 1
        return template.format(n=count).encode()

    return answer


def next_command(buffer: bytearray, ends: bytes | tuple[bytes, ...]) -> bytes | None:
    """Take the first whole command (up to the earliest of `ends`) off `buffer`."""
    found = [
        (i, end)
        for end in (ends if isinstance(ends, tuple) else (ends,))
        if (i := buffer.find(end)) >= 0
    ]
    if not found:
        return None
    index, end = min(found)
    command = bytes(buffer[: index + len(end)])
    del buffer[: index + len(end)]
    return command


class FakeSocket:
    """An instrument (or several, behind a device server) listening on 127.0.0.1:`port`.

    `events` records ("command", bytes) and ("reply", bytes) in the order they happened, with
    the loop's time, for ordering checks; `connections` counts accepted connections.
    """

    def __init__(
        self,
        port: int,
        answer: Answer,
        *,
        command_end: bytes | tuple[bytes, ...] = b"\n",
        delay: float = 0.0,
        chunks: int = 1,
        chunk_pause: float = 0.02,
    ) -> None:
        self.port = port
        self.answer = answer
        self.command_end = command_end
        self.delay = delay
        self.chunks = chunks
        self.chunk_pause = chunk_pause
        self.mute = False  # accept and read, never answer (a hung instrument, a dead far side)
        self.reset_after: int | None = None  # send this many bytes of a reply, then RST
        self.received: list[bytes] = []
        self.events: list[tuple[float, str, bytes]] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Self:
        await self.up()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.down()

    @property
    def open_connections(self) -> int:
        return len(self._writers)

    async def hang_up(self) -> None:
        """Close every connection in order (FIN), as an instrument does with an idle client;
        keep listening."""
        for writer in list(self._writers):
            writer.close()
        for _ in range(100):
            if not self._writers:
                return
            await asyncio.sleep(0.01)

    async def up(self) -> None:
        """Listen (again) on the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def down(self) -> None:
        """Stop listening and drop every connection: connects are refused from now on."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _note(self, kind: str, data: bytes) -> None:
        self.events.append((asyncio.get_running_loop().time(), kind, data))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        buffer = bytearray()
        try:
            while data := await reader.read(4096):
                buffer += data
                while (command := next_command(buffer, self.command_end)) is not None:
                    self.received.append(command)
                    self._note("command", command)
                    reply = None if self.mute else self.answer(command)
                    if reply is not None:
                        await self._send(writer, reply)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.transport.abort()

    async def _send(self, writer: asyncio.StreamWriter, reply: bytes) -> None:
        # in order, as one instrument (or one serial line behind a device server) answers
        await asyncio.sleep(self.delay)
        if self.reset_after is not None:
            writer.write(reply[: self.reset_after])
            await writer.drain()
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # with SO_LINGER 0: a reset, not an orderly close
            return
        size = max(1, -(-len(reply) // self.chunks))
        for i in range(0, len(reply), size):
            if i:
                await asyncio.sleep(self.chunk_pause)
            writer.write(reply[i : i + size])
        self._note("reply", reply)


def by_command(replies: dict[bytes, bytes | Answer]) -> Answer:
    """Answers each known command with its reply (bytes, or an Answer for changing ones);
    unknown commands get no answer."""

    def answer(command: bytes) -> bytes | None:
        reply = replies.get(command)
        return reply(command) if callable(reply) else reply

    return answer
