"""`sensorpoll simulate` for serial instruments: each configured port becomes a pseudo-terminal
whose instruments answer their commands with values from the fields' `simulate:` hints.

Entry point: `await serve(devices, link_dir=...)`; `PtyPort` is also the tests' stand-in port.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import re
import tty
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sensorpoll.drivers.base import Value
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.serial_config import SerialConfig, SerialField
from sensorpoll.drivers.simulated import SimulatedConfig, SimulatedDriver, SimulatedField

log = logging.getLogger(__name__)

_sre: Any = importlib.import_module("re._parser")  # the regex parse tree; no typing stubs


class SimulationError(ValueError):
    """A config the simulator cannot serve (e.g. no reply can match its `parse`)."""


class PtyPort:
    """A pseudo-terminal pair standing in for a serial port.

    We keep the master end; clients open `path` (the slave end, /dev/pts/N) as they would
    /dev/ttyUSB0. `link`, if given, is a symlink made to point at it. `close()` is an unplug:
    the client's reads fail from then on.
    """

    def __init__(self, on_data: Callable[[bytes], None], link: Path | None = None) -> None:
        self._on_data = on_data
        self.link = link
        self.path = ""
        self._master = self._slave = -1

    def open(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as on a real line
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        # Our slave fd stays open so the pty never hangs up while no client has it open.
        asyncio.get_running_loop().add_reader(master, self._readable)
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
        if self._master < 0:
            return  # unplugged: the bytes go nowhere
        with contextlib.suppress(BlockingIOError):
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


def _format_candidates(field: SerialField, value: Value) -> list[str]:
    """Ways to print a value on the wire, most natural first; the first one `parse` accepts
    wins."""
    if isinstance(value, bool):
        return ["1" if value else "0", "true" if value else "false", "ON" if value else "OFF"]
    if isinstance(value, str):
        return [value]
    raw = (value - field.offset) / field.scale
    compact = f"{raw:.6f}".rstrip("0").rstrip(".")
    return [compact, str(round(raw)), f"{raw:.1f}", f"{raw:.2f}", f"{raw:.3f}", f"{raw:.6e}"]


def _in_set(items: Iterable[tuple[Any, Any]], char: str) -> bool:
    code = ord(char)
    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and arg == code:
            return True
        if name == "RANGE" and arg[0] <= code <= arg[1]:
            return True
        if name == "CATEGORY" and re.fullmatch(_CATEGORIES.get(str(arg), "(?!)"), char):
            return True
    return False


_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_FILLERS = "0a x.,;:-_+=/A"  # characters tried for a character class, in order


def _render(tokens: Any, groups: Mapping[int, str], done: dict[int, str]) -> str:
    """The shortest text the parsed regex `tokens` matches, with named groups replaced."""
    out: list[str] = []
    for op, arg in tokens:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name in ("NOT_LITERAL", "ANY"):
            out.append(next(c for c in _FILLERS if name == "ANY" or ord(c) != arg))
        elif name == "IN":
            items = list(arg)
            negate = bool(items) and str(items[0][0]) == "NEGATE"
            members = items[1:] if negate else items
            out.append(next((c for c in _FILLERS if _in_set(members, c) != negate), "?"))
        elif name == "BRANCH":
            out.append(_render(arg[1][0], groups, done))
        elif name == "SUBPATTERN":
            group, body = arg[0], arg[-1]
            text = groups[group] if group in groups else _render(body, groups, done)
            if group is not None:
                done[group] = text
            out.append(text)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, body = arg
            out.append(_render(body, groups, done) * low)
        elif name == "GROUPREF":
            out.append(done.get(arg, ""))
        elif name == "ATOMIC_GROUP":
            out.append(_render(arg, groups, done))
        # AT (anchors), ASSERT, ASSERT_NOT, GROUPREF_EXISTS...: nothing to print
    return "".join(out)


class ReplyBuilder:
    """Builds a reply line the device's own `parse` / `split` accepts, for given values."""

    def __init__(self, config: SerialConfig) -> None:
        self.config = config
        self._fields = {f.name: f for f in config.fields}
        if config.parse is not None:
            self._pattern: re.Pattern[str] | None = re.compile(config.parse)
            self._tree = _sre.parse(config.parse)
        else:
            self._pattern = None

    def reply(self, values: Mapping[str, Value]) -> str:
        body = self._body(values)
        return body + self.config.terminator

    def _body(self, values: Mapping[str, Value]) -> str:
        config = self.config
        texts = {n: _format_candidates(f, values[n]) for n, f in self._fields.items()}
        if config.split is not None:
            width = max(f.index or 0 for f in config.fields) + 1
            columns = ["0"] * width
            for name, field in self._fields.items():
                columns[field.index or 0] = texts[name][0]
            return config.split.join(columns)
        if self._pattern is None:
            return next(iter(texts.values()))[0]
        return self._regex_body(self._pattern, texts)

    def _regex_body(self, pattern: re.Pattern[str], texts: Mapping[str, list[str]]) -> str:
        index = pattern.groupindex
        chosen = {name: options[0] for name, options in texts.items()}
        for name, options in texts.items():  # per field, the first printing that matches
            for option in options:
                chosen[name] = option
                match = pattern.fullmatch(self._fill(index, chosen))
                if match is not None and match.group(name) == option:
                    break
            else:
                raise SimulationError(
                    f"device {self.config.name}: cannot print {texts[name][0]!r} for field "
                    f"{name} so that parse {pattern.pattern!r} matches; give the field a "
                    "simulate value that fits the regex"
                )
        return self._fill(index, chosen)

    def _fill(self, index: Mapping[str, int], chosen: Mapping[str, str]) -> str:
        groups = {index[name]: text for name, text in chosen.items()}
        return _render(self._tree, groups, {})


def _default_simulation(field: SerialField) -> SimulatedField:
    hint = field.simulate
    if hint is None:  # no hint: something plausible of the field's type
        defaults: dict[str, float | bool | str] = {"number": 1.0, "bool": True, "string": "SIM"}
        return SimulatedField(name=field.name, value=defaults[field.type])
    return SimulatedField(
        name=field.name,
        value=hint.value,
        waveform=hint.waveform,
        min=hint.min,
        max=hint.max,
        period=hint.period,
    )


class SimulatedInstrument:
    """One configured device answering its command (and *IDN?, init) with its values."""

    def __init__(self, config: SerialConfig) -> None:
        self.config = config
        self.command = config.command.encode(config.encoding)
        self.identify = config.with_line_ending("*IDN?").encode(config.encoding)
        self.builder = ReplyBuilder(config)
        self._values = SimulatedDriver(
            SimulatedConfig(
                name=config.name, fields=tuple(_default_simulation(f) for f in config.fields)
            ),
            Buses(),
        )

    async def answer(self) -> bytes:
        values = await self._values.read()
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

    def _received(self, data: bytes) -> None:
        self._buffer += data
        for instrument in self.instruments:
            for command, reply in (
                (instrument.command, instrument.answer),
                (instrument.identify, None),
            ):
                if self._buffer.endswith(command):
                    self._buffer.clear()
                    reply_task = self._reply(instrument, command, reply)
                    task = asyncio.get_running_loop().create_task(reply_task)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                    return
        if len(self._buffer) > 4096 or self._buffer.endswith((b"\r", b"\n")):
            self._buffer.clear()  # an init command or noise: nothing to answer

    async def _reply(self, instrument: SimulatedInstrument, command: bytes, reply: Any) -> None:
        if instrument.config.echo:
            self.pty.write(command)
        data = await reply() if reply is not None else instrument.identity()
        self.pty.write(data)

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
                await instrument.answer()  # SimulationError now, not on the first command
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


async def serve(
    devices: Sequence[SerialConfig],
    *,
    link_dir: Path | None = None,
    out: Callable[[str], None] = _print_now,
) -> None:
    """Serve `devices` on ptys until cancelled, printing `device -> /dev/pts/N` for each.

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
