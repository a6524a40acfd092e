"""Serial lines without hardware, on pseudo-terminals (flow stage 2, simulation and tests).

`PtyPort` is one port whose far end we play (a simulated instrument, a test stand-in);
`PtyLink` joins two ports back to back like a null-modem cable (Modbus slaves on one end,
clients on the other), optionally paced like a half-duplex RS-485 line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from pathlib import Path

RTU_BITS_PER_CHAR = 11  # start + 8 data + parity or second stop + stop, for PtyLink's pacing


class PtyPort:
    """A pseudo-terminal pair standing in for a serial port.

    We keep the master end; clients open `path` (the slave end, /dev/pts/N) as they would
    /dev/ttyUSB0. `link`, if given, is a symlink made to point at it. `close()` is an unplug:
    the client's reads fail from then on. Our own slave fd stays open (in raw mode: no echo,
    no line editing) so the pty never hangs up while no client has it open.
    """

    def __init__(self, on_data: Callable[[bytes], None], link: Path | None = None) -> None:
        self._on_data = on_data
        self.link = link
        self.path = ""
        self._master = self._slave = -1

    def open(self) -> str:
        """Create the pty (and the link); `on_data` gets what clients write from now on."""
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            os.set_blocking(master, False)
            self.path = os.ttyname(slave)
            asyncio.get_running_loop().add_reader(master, self._readable)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave = master, slave
        if self.link is not None:
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.path)
            tmp.replace(self.link)  # atomic: a client never sees the link missing
        return self.path

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            asyncio.get_running_loop().remove_reader(self._master)
            return
        if data:
            self._on_data(data)

    def write(self, data: bytes) -> None:
        """Bytes to the client; dropped when unplugged or when nobody reads them."""
        if self._master < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def close(self, *, unlink: bool = True) -> None:
        """Tear the pair down (idempotent); the link is removed unless `unlink` is False."""
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
        if unlink and self.link is not None and self.link.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()


class PtyLink:
    """Two `PtyPort`s back to back: what is written to one end comes out of the other.

    With a baud rate, bytes are paced as on one shared half-duplex line: a frame is delivered
    when its last character has been sent. `trace`, when a list, records (time, from end,
    bytes) for tests.
    """

    def __init__(self, baudrate: int | None = None) -> None:
        self._ports = (
            PtyPort(lambda data: self._relay(0, data)),
            PtyPort(lambda data: self._relay(1, data)),
        )
        self.ends = ("", "")
        self._char = RTU_BITS_PER_CHAR / baudrate if baudrate else 0.0
        self._free_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.bytes_relayed = 0
        self.trace: list[tuple[float, int, bytes]] | None = None

    async def start(self) -> PtyLink:
        self._loop = asyncio.get_running_loop()
        try:
            self.ends = (self._ports[0].open(), self._ports[1].open())
        except BaseException:
            await self.aclose()
            raise
        return self

    def _relay(self, source: int, data: bytes) -> None:
        self.bytes_relayed += len(data)
        target = self._ports[1 - source]
        loop = self._loop
        if loop is None:
            return
        if self.trace is not None:
            self.trace.append((loop.time(), source, data))
        if not self._char:
            target.write(data)
            return
        self._free_at = max(loop.time(), self._free_at) + len(data) * self._char
        loop.call_at(self._free_at, target.write, data)

    def inject(self, end: int, data: bytes) -> None:
        """Put `data` on the line as if written at `ends[end]` (noise, for tests): whoever reads
        the other end gets it."""
        self._ports[1 - end].write(data)

    async def aclose(self) -> None:
        for port in self._ports:
            port.close()
        self._loop = None
