"""The `serial` driver: one ASCII request/response instrument on its port's shared line.

Sends the device's command on its `SerialLine` (under the bus's turn) and parses the reply
line with its `ReplyParser`; the loop owns the deadline (flow stage 2).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import Driver, Value
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.errors import ParseError
from sensorpoll.drivers.serial import report
from sensorpoll.drivers.serial.config import SerialConfig
from sensorpoll.drivers.serial.line import LineSettings, SerialLine
from sensorpoll.drivers.serial.reply import ReplyParser
from sensorpoll.drivers.serial.simulation import serve

log = logging.getLogger(__name__)

IDENTIFY_TIMEOUT = 0.5  # how long `identify` waits for the answer to *IDN?


class SerialDriver(Driver[SerialConfig]):
    """One instrument: sends its command on its port's line, parses the reply line."""

    config_model = SerialConfig

    @classmethod
    async def simulate(cls, devices: list[SerialConfig], announce: Callable[[str], None]) -> bool:
        """`sensorpoll simulate`: each instrument on a pty, answering its own command."""
        if not devices:
            return False
        await serve(devices, out=announce)
        return True

    def __init__(self, config: SerialConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        spec = config.bus()
        self.bus = buses.get(spec.key)
        self._settings: LineSettings = spec.settings
        self._parser = ReplyParser(config)
        encode = config.encoding
        self._command = config.command.encode(encode)
        self._terminator = config.terminator.encode(encode)
        self._init = [config.with_line_ending(text).encode(encode) for text in config.init]
        self._identify = config.with_line_ending("*IDN?").encode(encode)
        # A reload that changes a device's init must run it again on the kept line.
        self._prepared_key = (config.name, tuple(self._init), config.identify)

    async def _line(self) -> SerialLine:
        """The port's shared line; replaced if a reload changed the port's settings."""
        line = self.bus.connection
        if isinstance(line, SerialLine) and line.settings == self._settings:
            return line
        if isinstance(line, SerialLine):
            await line.aclose()
        line = SerialLine(self.config.port, self._settings)
        self.bus.connection = line
        self.bus.on_close(line.aclose)
        return line

    async def open(self) -> None:
        async with self.bus.turn():
            line = await self._line()
            await line.ensure_open()

    async def read(self) -> Mapping[str, Value]:
        line = self.bus.connection
        if isinstance(line, SerialLine) and line.unanswered(self._command):
            # Our instrument did not answer last time: let neighbours on the line go first
            # (every read of a cycle starts in the same loop iteration), so a dead instrument
            # spends its own deadline, not theirs.
            await asyncio.sleep(0)
        async with self.bus.turn():
            line = await self._line()
            await line.ensure_open()
            if self._prepared_key not in line.prepared:
                await self._prepare(line)
            reply = await line.exchange(
                self._command,
                self._terminator,
                echo=self.config.echo,
                late_reply_wait=self.config.late_reply_wait,
            )
        text = reply.decode(self.config.encoding, errors="replace")
        try:
            return self._parser.parse(text)
        except ParseError as exc:
            log.debug("device %s: %s", self.config.name, exc)
            raise

    async def _prepare(self, line: SerialLine) -> None:
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
        """Each port's estimated line time per cycle against the interval and deadlines."""
        return report.check_report(devices, settings)
