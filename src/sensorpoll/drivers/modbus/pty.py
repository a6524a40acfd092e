"""A serial line without hardware: two pseudo-terminals joined back to back by a relay.

`simulate` serves RTU on one end and prints the other; tests and bench put clients and slaves
on the two ends. With a baud rate the relay paces bytes like a half-duplex RS-485 line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty

from sensorpoll.drivers.modbus.wire import char_time


class PtyLink:
    """What is written to one end comes out of the other, like a null-modem cable.

    We hold both slave ends open ourselves (in raw mode) so a client closing and reopening
    its end never leaves the relay reading a hung-up master.
    """

    def __init__(self, baudrate: int | None = None) -> None:
        self._fds: list[int] = []
        masters: list[int] = []
        names: list[str] = []
        try:
            for _ in range(2):
                master, slave = os.openpty()
                self._fds += [master, slave]
                tty.setraw(slave)
                os.set_blocking(master, False)
                masters.append(master)
                names.append(os.ttyname(slave))
        except BaseException:
            self._close_fds()
            raise
        self._masters = masters
        self.ends = (names[0], names[1])
        self._char = char_time(baudrate) if baudrate else 0.0
        self._free_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.bytes_relayed = 0
        self.trace: list[tuple[float, int, bytes]] | None = None  # (time, from end, bytes)

    async def start(self) -> PtyLink:
        self._loop = asyncio.get_running_loop()
        a, b = self._masters
        self._loop.add_reader(a, self._pump, a, b)
        self._loop.add_reader(b, self._pump, b, a)
        return self

    def _pump(self, source: int, target: int) -> None:
        try:
            data = os.read(source, 4096)
        except OSError:
            return
        self.bytes_relayed += len(data)
        if self.trace is not None and self._loop is not None:
            self.trace.append((self._loop.time(), self._masters.index(source), data))
        if not self._char or self._loop is None:
            self._write(target, data)
            return
        # one shared line: a frame is delivered when its last character has been sent
        now = self._loop.time()
        self._free_at = max(now, self._free_at) + len(data) * self._char
        self._loop.call_at(self._free_at, self._write, target, data)

    def _write(self, target: int, data: bytes) -> None:
        with contextlib.suppress(OSError):  # closed meanwhile, or nobody reading: dropped
            os.write(target, data)

    def inject(self, end: int, data: bytes) -> None:
        """Deliver `data` to whoever reads `ends[end]`, as line noise would (for tests)."""
        self._write(self._masters[1 - end], data)

    def _close_fds(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []

    async def aclose(self) -> None:
        if self._loop is not None:
            for master in self._masters:
                self._loop.remove_reader(master)
            self._loop = None
        self._close_fds()
