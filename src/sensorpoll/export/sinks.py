"""Sinks: data logs (each cycle appended as one JSON line, flushed per cycle, reopened on
SIGHUP so logrotate works) and the MQTT sink (export/mqtt.py), managed as one publisher.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, Protocol

from sensorpoll.config.schema import JsonlSinkSettings, Settings, SinkSettings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.export.cyclejson import cycle_to_json
from sensorpoll.export.sinkmetrics import SinkStats

log = logging.getLogger(__name__)


class JsonlSink:
    """Appends the cycle JSON of every cycle to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = JsonlSinkSettings(type="jsonl", path=path).label
        self.stats = SinkStats(self.label)
        self._file: IO[str] | None = None
        self._failing = False

    async def start(self) -> None:
        # A file that cannot be opened now (full disk, a path outside the unit's writable
        # StateDirectory) is logged and retried every cycle, as a failed write is: the data log
        # never stops polling.
        try:
            self._open()
        except OSError as exc:
            log.error("opening %s failed: %s", self.path, exc)
            self._failing = True

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def publish(self, cycle: Cycle) -> None:
        line = cycle_to_json(cycle) + "\n"
        try:
            if self._file is None:
                self._open()
            assert self._file is not None
            self._file.write(line)
            self._file.flush()
        except OSError as exc:  # a full disk must not stop polling; log once, retry each cycle
            if not self._failing:
                log.error("writing %s failed: %s", self.path, exc)
            self._failing = True
            self.stats.dropped += 1
            self._close()
            return
        self.stats.published += 1
        if self._failing:
            log.info("writing %s works again", self.path)
            self._failing = False

    async def reopen(self) -> None:
        self._close()
        self._open()

    async def reconfigure(self, settings: Settings) -> None:
        pass  # the sink set is managed by Sinks

    def _close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                log.error("closing %s failed: %s", self.path, exc)
            self._file = None

    async def aclose(self) -> None:
        self._close()


class Sink(Protocol):
    """One configured sink: a publisher with a `sink` label and its counters."""

    stats: SinkStats

    @property
    def label(self) -> str: ...
    async def start(self) -> None: ...
    def publish(self, cycle: Cycle) -> None: ...
    async def reopen(self) -> None: ...
    async def aclose(self) -> None: ...


def make_sink(settings: SinkSettings) -> Sink:
    if isinstance(settings, JsonlSinkSettings):
        return JsonlSink(settings.path)
    # Imported here: aiomqtt (and paho) load only for a config that has an mqtt sink.
    from sensorpoll.export.mqtt import MqttSink

    return MqttSink(settings)


class Sinks:
    """Every configured sink as one publisher; reload adds and removes sinks."""

    def __init__(self, settings: Settings) -> None:
        self._sinks: dict[SinkSettings, Sink] = {s: make_sink(s) for s in settings.sinks}

    def stats(self) -> list[SinkStats]:
        """Each sink's counters, in config order: for the exposition."""
        return [sink.stats for sink in self._sinks.values()]

    async def start(self) -> None:
        for sink in self._sinks.values():
            await sink.start()

    def publish(self, cycle: Cycle) -> None:
        for sink in self._sinks.values():
            sink.publish(cycle)

    async def reopen(self) -> None:
        for sink in self._sinks.values():
            try:
                await sink.reopen()
            except OSError as exc:
                log.error("reopening %s failed: %s", sink.label, exc)

    async def reconfigure(self, settings: Settings) -> None:
        wanted = set(settings.sinks)
        for key in [k for k in self._sinks if k not in wanted]:
            await self._sinks.pop(key).aclose()
        sinks: dict[SinkSettings, Sink] = {}
        for key in settings.sinks:  # config order, which the metrics follow
            sink = self._sinks.get(key)
            if sink is None:
                sink = make_sink(key)
                try:
                    await sink.start()
                except OSError as exc:
                    log.error("starting %s failed: %s", sink.label, exc)
            sinks[key] = sink
        self._sinks = sinks

    async def aclose(self) -> None:
        for sink in self._sinks.values():
            await sink.aclose()
