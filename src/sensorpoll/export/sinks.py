"""Sinks: the jsonl data logs (export/jsonl.py) and the MQTT sink (export/mqtt.py), managed
as one publisher that reload adds sinks to and removes them from.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sensorpoll.config.schema import JsonlSinkSettings, Settings, SinkSettings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.export.jsonl import JsonlSink
from sensorpoll.export.sinkmetrics import SinkStats

log = logging.getLogger(__name__)


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
