"""The `serial` driver: one ASCII instrument on its line (a serial port or a TCP socket).

Runs the device's queries in order on its `Line`, under one hold of the bus's turn, and
parses each reply with its query's `ReplyParser`; the loop owns the deadline (flow stage 2).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sensorpoll.config.schema import DeviceConfig, Settings
from sensorpoll.drivers.base import Driver, Value
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.errors import ParseError
from sensorpoll.drivers.serial import report
from sensorpoll.drivers.serial.config import (
    ERROR_QUERY,
    IDENTIFY_QUERY,
    SerialConfig,
)
from sensorpoll.drivers.serial.errors import InstrumentError
from sensorpoll.drivers.serial.line import Line
from sensorpoll.drivers.serial.reply import ReplyParser, shown
from sensorpoll.drivers.serial.simulation import serve
from sensorpoll.drivers.serial.transports import SerialLine, TcpLine

log = logging.getLogger(__name__)

IDENTIFY_TIMEOUT = 0.5  # how long `identify` waits for the answer to *IDN?
MAX_QUEUED_ERRORS = 10  # SYST:ERR? entries read per cycle, so the queue is empty afterwards
# A SCPI error-queue entry: `-113,"Undefined header"`, `+0,"No error"`, or a bare code.
_ERROR_ENTRY = re.compile(r'\s*([+-]?\d+)\s*(?:,\s*"?(.*?)"?\s*)?')


@dataclass(frozen=True)
class _CompiledQuery:
    """One query as bytes on the line, with its parser and how errors name it."""

    command: bytes
    expect: bytes | None
    then: bytes | None
    parser: ReplyParser
    label: str  # "query 2 (KRDG? B)" in errors; "" for a device with a single command


class SerialDriver(Driver[SerialConfig]):
    """One instrument: runs its queries on its line, parses the replies."""

    config_model = SerialConfig
    reasons = ("timeout", "connection", "parse")

    @classmethod
    def reasons_for(cls, config: DeviceConfig) -> tuple[str, ...]:
        if isinstance(config, SerialConfig) and config.check_errors:
            return (*cls.reasons, "instrument_error")
        return cls.reasons

    @classmethod
    async def simulate(cls, devices: list[SerialConfig], announce: Callable[[str], None]) -> bool:
        """`sensorpoll simulate`: serial instruments on ptys, TCP ones on loopback sockets."""
        if not devices:
            return False
        return await serve(devices, announce=announce)

    def __init__(self, config: SerialConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        spec = config.bus()
        self.bus = buses.get(spec.key)
        self._settings = spec.settings
        encode = config.encoding
        queries = config.all_queries
        named = config.queries is not None

        def optional(text: str | None) -> bytes | None:
            return None if text is None else text.encode(encode)

        self._queries = [
            _CompiledQuery(
                command=query.command.encode(encode),
                expect=optional(query.expect),
                then=optional(query.then),
                parser=ReplyParser(query),
                label=f"query {i + 1} ({query.command.strip()})" if named else "",
            )
            for i, query in enumerate(queries)
        ]
        self._terminator = config.terminator.encode(encode)
        self._init = [config.with_line_ending(text).encode(encode) for text in config.init]
        self._identify = config.with_line_ending(IDENTIFY_QUERY).encode(encode)
        self._error_query = config.with_line_ending(ERROR_QUERY).encode(encode)
        # A reload that changes a device's init must run it again on the kept line.
        self._prepared_key = (config.name, tuple(self._init), config.identify)

    def _new_line(self) -> Line:
        config = self.config
        if config.is_tcp:
            assert config.host is not None  # checked by the config model
            return TcpLine(config.host, config.tcp_port)
        return SerialLine(str(config.port), self._settings)

    async def _line(self) -> Line:
        """The line's shared connection; replaced if a reload changed the port's settings."""
        line = self.bus.connection
        if isinstance(line, Line) and line.settings == self._settings:
            return line
        if isinstance(line, Line):
            await line.aclose()
        line = self._new_line()
        self.bus.connection = line
        self.bus.on_close(line.aclose)
        return line

    @property
    def _connect_timeout(self) -> float | None:
        # Half the deadline: a connect slower than that is a `connection` error, and the
        # other half is left for the queries.
        return self.deadline / 2 if self.deadline is not None else None

    async def open(self) -> None:
        if self.config.is_tcp and self.deadline is None:
            return  # connected by the first read, whose deadline bounds the connect
        async with self.bus.turn():
            line = await self._line()
            await line.ensure_open(self._connect_timeout)

    async def read(self) -> Mapping[str, Value]:
        line = self.bus.connection
        if isinstance(line, Line) and line.unanswered(self._queries[0].command):
            # Our instrument did not answer last time: let neighbours on the line go first
            # (every read of a cycle starts in the same loop iteration), so a dead instrument
            # spends its own deadline, not theirs.
            await asyncio.sleep(0)
        echo, wait = self.config.echo, self.config.late_reply_wait
        async with self.bus.turn():
            line = await self._line()
            await line.ensure_open(self._connect_timeout)
            if self._prepared_key not in line.prepared:
                await self._prepare(line)
            replies = []
            for compiled in self._queries:
                try:
                    reply = await line.exchange(
                        compiled.command,
                        self._terminator,
                        echo=echo,
                        late_reply_wait=wait,
                        expect=compiled.expect,
                        then=compiled.then,
                    )
                except ParseError as exc:
                    raise self._named(compiled, exc) from None
                replies.append(reply)
            errors = await self._error_queue(line) if self.config.check_errors else []
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise InstrumentError(f"{ERROR_QUERY} {errors[0]}{more}")
        values: dict[str, Value] = {}
        for compiled, reply in zip(self._queries, replies, strict=True):
            text = reply.decode(self.config.encoding, errors="replace")
            try:
                values.update(compiled.parser.parse(text))
            except ParseError as exc:
                raise self._named(compiled, exc) from None
        return values

    def _named(self, compiled: _CompiledQuery, exc: ParseError) -> ParseError:
        """The parse error, naming the query it is about when the device has several."""
        named = ParseError(f"{compiled.label}: {exc}") if compiled.label else exc
        log.debug("device %s: %s", self.config.name, named)
        return named

    async def _error_queue(self, line: Line) -> list[str]:
        """SCPI's error queue, read until it says 0 (no error): the entries it held."""
        entries: list[str] = []
        for _ in range(MAX_QUEUED_ERRORS):
            answer = await line.exchange(
                self._error_query,
                self._terminator,
                echo=self.config.echo,
                late_reply_wait=self.config.late_reply_wait,
            )
            text = answer.decode(self.config.encoding, errors="replace").strip()
            match = _ERROR_ENTRY.fullmatch(text)
            if match is None:
                raise ParseError(f"{ERROR_QUERY} answered {shown(text)}, not an error code")
            if int(match.group(1)) == 0:
                break
            entries.append(text)
        return entries

    async def _prepare(self, line: Line) -> None:
        """Init commands and identification, once per connection (a replugged instrument may
        have lost its settings)."""
        for command in self._init:
            line.discard_input()
            line.send(command)
            await asyncio.sleep(self.config.init_delay)  # answers, if any, are discarded
        # Identification is tried once per connection, whatever comes of it: an instrument
        # that ignores *IDN? must not make every read spend its deadline waiting for it.
        line.prepared.add(self._prepared_key)
        if self.config.identify:
            try:
                async with asyncio.timeout(IDENTIFY_TIMEOUT):
                    answer = await line.exchange(
                        self._identify,
                        self._terminator,
                        echo=self.config.echo,
                        late_reply_wait=0.0,  # may never be answered; cannot pass for a reading
                    )
            except (TimeoutError, ParseError) as exc:
                log.warning("device %s: no usable answer to *IDN?: %s", self.config.name, exc)
            else:
                identity = answer.decode(self.config.encoding, errors="replace").strip()
                log.info("device %s on %s identifies as %s", self.config.name, line.port, identity)

    @classmethod
    def check_report(cls, devices: list[SerialConfig], settings: Settings) -> list[str]:
        """Each line's queries per cycle; for serial ports, the estimated transfer time."""
        return report.check_report(devices, settings)
