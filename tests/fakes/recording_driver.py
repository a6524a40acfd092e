"""A third-party driver for the daemon tests: it records open, read and close of each device
instance to a file, and can misbehave on purpose (hang while closing, ignore cancellation).

Loaded by a real `sensorpoll run` through the `sensorpoll.drivers` entry-point group
(tests/daemon/conftest.py: `recording_driver_env`), as any third-party driver is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from sensorpoll.config.schema import DeviceConfig
from sensorpoll.drivers.base import Driver, Value
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.errors import DeviceConnectionError


class RecordingConfig(DeviceConfig):
    driver: Literal["recording"] = "recording"
    events: Path  # one line per event: "<event> <device> <instance>"
    hang_on_close: bool = False
    ignore_cancellation: bool = False  # a read that swallows CancelledError for 30 s


class RecordingDriver(Driver[RecordingConfig]):
    config_model = RecordingConfig
    instances = 0

    def __init__(self, config: RecordingConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        RecordingDriver.instances += 1
        self.instance = RecordingDriver.instances
        self.connected = False

    def _record(self, event: str) -> None:
        with self.config.events.open("a") as events:
            events.write(f"{event} {self.config.name} {self.instance}\n")

    async def open(self) -> None:
        if not self.connected:
            self.connected = True
            self._record("open")

    async def read(self) -> Mapping[str, Value]:
        # Strict on purpose: the loop must open a device (at start, or when a reload adds it)
        # before reading it.
        if not self.connected:
            raise DeviceConnectionError("read before open")
        self._record("read")
        if self.config.ignore_cancellation:
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while loop.time() < end:
                try:
                    await asyncio.sleep(end - loop.time())
                except asyncio.CancelledError:
                    self._record("ignored-cancel")
        return {field.name: 1.0 for field in self.config.fields}

    async def aclose(self) -> None:
        if self.config.hang_on_close:
            self._record("hanging-on-close")
            await asyncio.Event().wait()
        if self.connected:
            self.connected = False
            self._record("close")
