"""Emulated ASCII instruments on pseudo-terminals, with the faults real lines have.

A `FakeLine` is one port (a pty linked at a path the config names); each command it receives
(up to `command_end`) is answered by `answer(command) -> reply bytes | None` after `delay`,
optionally echoed, split into chunks, or not at all. `unplug()`/`replug()` tear the pty down
and recreate it at the same path, as a USB adapter pulled and plugged back in.
"""

from __future__ import annotations

import asyncio
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
        command_end: bytes = b"\r\n",
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
        while (end := self._buffer.find(self.command_end)) >= 0:
            command = bytes(self._buffer[: end + len(self.command_end)])
            del self._buffer[: end + len(self.command_end)]
            self.received.append(command)
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
