"""`sensorpoll simulate` for ASCII instruments: each serial port becomes a pseudo-terminal and
each loopback host:port a listening socket, whose instruments answer their queries (and
handshakes, `*IDN?`, `SYST:ERR?`) with values from the fields' `simulate:` hints.

Entry point: `await serve(devices, link_dir=...)`. Replies are built by `reply.ReplyBuilder`,
the inverse of the driver's parser.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sensorpoll.config.schema import ValueKind
from sensorpoll.drivers.base import is_loopback
from sensorpoll.drivers.pty import PtyPort
from sensorpoll.drivers.serial.config import ERROR_QUERY, IDENTIFY_QUERY, SerialConfig
from sensorpoll.drivers.serial.reply import ReplyBuilder, SimulationError
from sensorpoll.drivers.signal import Signal, signal_source

__all__ = ["SerialSimulator", "SimulationError", "serial_devices", "serve"]

log = logging.getLogger(__name__)


DEFAULT_SIGNALS: dict[ValueKind, Signal] = {
    "number": Signal(value=1.0),
    "bool": Signal(value=True),
    "string": Signal(value="SIM"),
}  # for fields without a `simulate:` hint: something plausible of the field's type


Handler = Callable[["Responder"], None]


class SimulatedInstrument:
    """One configured device: what it answers to each of its commands (its queries, their
    handshakes, `*IDN?`, `SYST:ERR?`), with values from its fields' signals."""

    def __init__(self, config: SerialConfig) -> None:
        self.config = config
        encoding = config.encoding
        self._sources = {
            f.name: signal_source(
                f.simulate or DEFAULT_SIGNALS[f.value_kind], random.Random(f.name)
            )
            for f in config.fields
        }
        self.builders = [ReplyBuilder(config, query) for query in config.all_queries]
        self.commands: list[tuple[bytes, Handler]] = []
        for builder in self.builders:
            query = builder.query
            command = query.command.encode(encoding)
            self.commands.append((command, self._query_handler(command, builder)))
            if query.then is not None:
                then = query.then.encode(encoding)
                self.commands.append((then, self._then_handler(then)))
        identify = config.with_line_ending(IDENTIFY_QUERY).encode(encoding)
        self.commands.append((identify, self._fixed(identify, self.identity())))
        if config.check_errors:
            errors = config.with_line_ending(ERROR_QUERY).encode(encoding)
            no_error = f'+0,"No error"{config.terminator}'.encode(encoding)
            self.commands.append((errors, self._fixed(errors, no_error)))

    def _encoded(self, text: str) -> bytes:
        return text.encode(self.config.encoding, errors="replace")

    def answer(self, builder: ReplyBuilder | None = None) -> bytes:
        """The reply to a query (the first one by default) with the values at this moment."""
        builder = builder or self.builders[0]
        now = time.time()  # wall clock: waveforms line up across restarts and daemons
        values = {f.name: self._sources[f.name](now) for f in builder.query.fields}
        return self._encoded(builder.reply(values))

    def check(self) -> None:
        """Build one reply per query: `SimulationError` now, not on the first command."""
        for builder in self.builders:
            self.answer(builder)

    def identity(self) -> bytes:
        return self._encoded(
            f"sensorpoll,simulated {self.config.name},0,0.1{self.config.terminator}"
        )

    def _echo(self, responder: Responder, command: bytes) -> None:
        if self.config.echo:
            responder.write(command)

    def _query_handler(self, command: bytes, builder: ReplyBuilder) -> Handler:
        query = builder.query
        expect = None if query.expect is None else self._encoded(query.expect)

        def handle(responder: Responder) -> None:
            self._echo(responder, command)
            if expect is None:
                responder.write(self.answer(builder))
            elif query.then is None:  # the value follows the acknowledgement unasked
                responder.write(expect + self.answer(builder))
            else:
                responder.write(expect)
                responder.pending = (self, builder)

        return handle

    def _then_handler(self, then: bytes) -> Handler:
        def handle(responder: Responder) -> None:
            pending, responder.pending = responder.pending, None
            if pending is None:
                return  # an ENQ out of turn: real controllers ignore it too
            self._echo(responder, then)
            instrument, builder = pending
            responder.write(instrument.answer(builder))

        return handle

    def _fixed(self, command: bytes, reply: bytes) -> Handler:
        def handle(responder: Responder) -> None:
            self._echo(responder, command)
            responder.write(reply)

        return handle


class Responder:
    """One conversation with the instruments of a line (a pty, or one TCP connection):
    recognises each command in what arrives, in pieces or not, and answers it."""

    def __init__(
        self, instruments: Sequence[SimulatedInstrument], write: Callable[[bytes], None]
    ) -> None:
        self.write = write
        self.pending: tuple[SimulatedInstrument, ReplyBuilder] | None = None  # awaiting `then`
        self._buffer = bytearray()
        # Longest first, so "ST\r" is not taken for "T\r"; the first instrument's wins a tie.
        commands = [entry for instrument in instruments for entry in instrument.commands]
        self._commands = sorted(commands, key=lambda c: -len(c[0]))

    def received(self, data: bytes) -> None:
        self._buffer += data
        for command, handle in self._commands:
            if self._buffer.endswith(command):
                self._buffer.clear()
                handle(self)
                return
        # Anything else (init commands, noise) is not answered; keep a tail in which a
        # command that arrives in pieces can still be recognised.
        del self._buffer[:-256]


class SimulatedLine:
    """One serial port's pty and the instruments on it."""

    def __init__(self, instruments: Sequence[SimulatedInstrument], link: Path | None) -> None:
        self.instruments = instruments
        self.pty = PtyPort(self._received, link)
        self._responder = Responder(instruments, self.pty.write)

    def _received(self, data: bytes) -> None:
        self._responder.received(data)

    async def aclose(self) -> None:
        self.pty.close()


class SimulatedSocket:
    """One host:port on loopback and the instruments behind it (an LXI instrument, or a
    device server's port with an RS-485 line behind it): each connection gets a responder."""

    def __init__(self, instruments: Sequence[SimulatedInstrument], host: str, port: int) -> None:
        self.instruments = instruments
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        return f"tcp {self.host}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        responder = Responder(self.instruments, writer.write)
        try:
            while data := await reader.read(4096):
                responder.received(data)
        except ConnectionError:
            pass  # the client went away mid-conversation
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


def _link_for(port: str, link_dir: Path | None) -> Path | None:
    """Where the pty is linked: in `link_dir` under the port's file name, or at the config's
    own port path when it does not exist and its directory is writable (e.g. /tmp/thermo)."""
    if link_dir is not None:
        return link_dir / Path(port).name
    path = Path(port)
    if path.is_absolute() and not path.exists() and os.access(path.parent, os.W_OK):
        return path
    return None


class SerialSimulator:
    """Every serial port of a config as a pty and every loopback host:port as a listening
    socket; `start()` then `aclose()`, or `serve()`."""

    def __init__(self, devices: Sequence[SerialConfig], link_dir: Path | None = None) -> None:
        by_port: dict[str, list[SimulatedInstrument]] = {}
        by_socket: dict[tuple[str, int], list[SimulatedInstrument]] = {}
        self.skipped: list[str] = []
        self._order = {device.name: i for i, device in enumerate(devices)}
        for device in devices:
            if not device.is_tcp:
                by_port.setdefault(str(device.port), []).append(SimulatedInstrument(device))
            elif device.host is not None and is_loopback(device.host):
                key = (device.host, device.tcp_port)
                by_socket.setdefault(key, []).append(SimulatedInstrument(device))
            else:
                self.skipped.append(
                    f"{device.name}: not simulated: {device.host} is not a loopback address"
                )
        self.lines = {
            port: SimulatedLine(instruments, _link_for(port, link_dir))
            for port, instruments in by_port.items()
        }
        self.sockets = [
            SimulatedSocket(instruments, host, port)
            for (host, port), instruments in by_socket.items()
        ]

    @property
    def empty(self) -> bool:
        return not self.lines and not self.sockets

    async def start(self) -> list[str]:
        """Open the ptys and sockets, after checking each device can be answered; the lines
        to show the user."""
        for line in self.lines.values():
            for instrument in line.instruments:
                instrument.check()
        for socket in self.sockets:
            for instrument in socket.instruments:
                instrument.check()
        served: dict[str, str] = {}
        for port, line in self.lines.items():
            path = line.pty.open()
            where = f" (linked at {line.pty.link})" if line.pty.link is not None else ""
            for instrument in line.instruments:
                served[instrument.config.name] = f"{path}{where}  [config port {port}]"
        for socket in self.sockets:
            address = await socket.start()
            for instrument in socket.instruments:
                served[instrument.config.name] = address
        in_config_order = sorted(served, key=self._order.__getitem__)
        return [*self.skipped, *(f"{name} -> {served[name]}" for name in in_config_order)]

    async def aclose(self) -> None:
        for line in self.lines.values():
            await line.aclose()
        for socket in self.sockets:
            await socket.aclose()


def _print_now(text: str) -> None:
    print(text, flush=True)  # shown at once even when stdout is a pipe


def serial_devices(devices: Sequence[object]) -> list[SerialConfig]:
    """The serial instruments among a config's devices (what `serve` takes)."""
    return [device for device in devices if isinstance(device, SerialConfig)]


async def serve(
    devices: Sequence[SerialConfig],
    *,
    link_dir: Path | None = None,
    announce: Callable[[str], None] = _print_now,
) -> bool:
    """Serve `devices` until cancelled, printing `device -> /dev/pts/N` (or `-> tcp
    host:port`) for each.

    Raises `SimulationError` (a ValueError, before anything is served) when a device's
    `parse` admits no reply carrying its simulated values.

    Returns False at once when none of `devices` can be served here (TCP instruments on
    other hosts). Cancel it to stop (the command turns SIGTERM into cancellation): the ptys
    are closed, the links removed and the sockets closed. A link left by a killed run is
    replaced on the next start.
    """
    simulator = SerialSimulator(devices, link_dir)
    if simulator.empty:
        for text in simulator.skipped:
            announce(text)
        return False
    try:
        for text in await simulator.start():
            announce(text)
        await asyncio.Event().wait()  # until cancelled (SIGTERM in the command)
    finally:
        await simulator.aclose()
    return True  # not reached: the wait ends by cancellation
