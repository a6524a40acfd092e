"""`sensorpoll simulate` for serial instruments: each configured port becomes a pseudo-terminal
whose instruments answer their commands with values from the fields' `simulate:` hints.

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
from sensorpoll.drivers.pty import PtyPort
from sensorpoll.drivers.serial.config import SerialConfig
from sensorpoll.drivers.serial.reply import ReplyBuilder, SimulationError
from sensorpoll.drivers.signal import Signal, signal_source

__all__ = ["SerialSimulator", "SimulationError", "serial_devices", "serve"]

log = logging.getLogger(__name__)


DEFAULT_SIGNALS: dict[ValueKind, Signal] = {
    "number": Signal(value=1.0),
    "bool": Signal(value=True),
    "string": Signal(value="SIM"),
}  # for fields without a `simulate:` hint: something plausible of the field's type


class SimulatedInstrument:
    """One configured device answering its command (and *IDN?, init) with its values."""

    def __init__(self, config: SerialConfig) -> None:
        self.config = config
        self.command = config.command.encode(config.encoding)
        self.identify = config.with_line_ending("*IDN?").encode(config.encoding)
        self.builder = ReplyBuilder(config)
        self._sources = [
            (
                f.name,
                signal_source(f.simulate or DEFAULT_SIGNALS[f.value_kind], random.Random(f.name)),
            )
            for f in config.fields
        ]

    def answer(self) -> bytes:
        now = time.time()  # wall clock: waveforms line up across restarts and daemons
        values = {name: source(now) for name, source in self._sources}
        return self.builder.reply(values).encode(self.config.encoding, errors="replace")

    def identity(self) -> bytes:
        text = f"sensorpoll,simulated {self.config.name},0,0.1{self.config.terminator}"
        return text.encode(self.config.encoding, errors="replace")


class SimulatedLine:
    """One port's pty and the instruments on it; answers each command it recognises."""

    def __init__(self, instruments: Sequence[SimulatedInstrument], link: Path | None) -> None:
        self.instruments = instruments
        self.pty = PtyPort(self._received, link)
        self._buffer = bytearray()
        self._tasks: set[asyncio.Task[None]] = set()
        # Longest first, so "ST\r" is not taken for "T\r"; *IDN? after the measurements.
        commands = [(i.command, i, True) for i in instruments]
        commands += [(i.identify, i, False) for i in instruments]
        self._commands = sorted(commands, key=lambda c: -len(c[0]))

    def _received(self, data: bytes) -> None:
        self._buffer += data
        for command, instrument, measure in self._commands:
            if self._buffer.endswith(command):
                self._buffer.clear()
                reply = self._reply(instrument, command, measure)
                task = asyncio.get_running_loop().create_task(reply)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
        # Anything else (init commands, noise) is not answered; keep a tail in which a
        # command that arrives in pieces can still be recognised.
        del self._buffer[:-256]

    async def _reply(self, instrument: SimulatedInstrument, command: bytes, measure: bool) -> None:
        if instrument.config.echo:
            self.pty.write(command)
        self.pty.write(instrument.answer() if measure else instrument.identity())

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.pty.close()


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
    """Every serial port of a config as a pty; `start()` then `aclose()`, or `serve()`."""

    def __init__(self, devices: Sequence[SerialConfig], link_dir: Path | None = None) -> None:
        by_port: dict[str, list[SimulatedInstrument]] = {}
        for device in devices:
            by_port.setdefault(device.port, []).append(SimulatedInstrument(device))
        self.lines = {
            port: SimulatedLine(instruments, _link_for(port, link_dir))
            for port, instruments in by_port.items()
        }

    async def start(self) -> list[str]:
        """Open the ptys and check each device can be answered; the lines to show the user."""
        shown: list[str] = []
        for port, line in self.lines.items():
            for instrument in line.instruments:
                instrument.answer()  # SimulationError now, not on the first command
            path = line.pty.open()
            where = f" (linked at {line.pty.link})" if line.pty.link is not None else ""
            for instrument in line.instruments:
                shown.append(f"{instrument.config.name} -> {path}{where}  [config port {port}]")
        return shown

    async def aclose(self) -> None:
        for line in self.lines.values():
            await line.aclose()


def _print_now(text: str) -> None:
    print(text, flush=True)  # shown at once even when stdout is a pipe


def serial_devices(devices: Sequence[object]) -> list[SerialConfig]:
    """The serial instruments among a config's devices (what `serve` takes)."""
    return [device for device in devices if isinstance(device, SerialConfig)]


async def serve(
    devices: Sequence[SerialConfig],
    *,
    link_dir: Path | None = None,
    out: Callable[[str], None] = _print_now,
) -> None:
    """Serve `devices` on ptys until cancelled, printing `device -> /dev/pts/N` for each.

    Raises `SimulationError` (a ValueError, before anything is served) when a device's
    `parse` admits no reply carrying its simulated values.

    Cancel it to stop (the command turns SIGTERM into cancellation): the ptys are closed and
    the links removed. A link left by a killed run is replaced on the next start.
    """
    simulator = SerialSimulator(devices, link_dir)
    try:
        for text in await simulator.start():
            out(text)
        await asyncio.Event().wait()  # until cancelled (SIGTERM in the command)
    finally:
        await simulator.aclose()
