"""Simulated devices: waveforms or constants, configurable latency and injected faults.

Stands in for hardware in the demo and the tests (as httpx's MockTransport does for HTTP).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import weakref
import zlib
from typing import Literal, Self

from pydantic import Field, model_validator

from sensorpoll.config.schema import DeviceConfig, FieldConfig, Model, ValueKind
from sensorpoll.config.types import Duration
from sensorpoll.drivers.base import Driver, Reading, Value
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.errors import DeviceError
from sensorpoll.drivers.signal import Signal, signal_source


class LatencyRange(Model):
    min: Duration = Field(description="The shortest a read takes.", examples=["10ms"])
    max: Duration = Field(description="The longest a read takes.", examples=["50ms"])

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}s) is greater than max ({self.max:g}s)")
        return self


class Faults(Model):
    error_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of reads that fail with `error_reason`, 0 to 1.",
        examples=[0.05],
    )
    timeout_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Share of reads that hang until the deadline cancels them (a `timeout`), 0 to 1."
        ),
        examples=[0.01],
    )
    error_reason: str = Field(
        "io",
        pattern=r"^[a-z_][a-z0-9_:]*$",
        description=(
            "The reason a failed read reports (the `reason` label of "
            "sensorpoll_device_errors_total)."
        ),
        examples=["crc"],
    )
    seed: int | None = Field(
        None,
        description=(
            "Seed of the random faults, latencies and random walks; default: derived "
            "from the device name, so runs repeat."
        ),
        examples=[1],
    )


class SimulatedField(FieldConfig, Signal):
    @property
    def kind(self) -> ValueKind:
        if isinstance(self.value, bool):
            return "bool"
        if isinstance(self.value, str):
            return "string"
        return "number"


class SimulatedConfig(DeviceConfig):
    driver: Literal["simulated"] = Field(
        "simulated",
        description=(
            "`simulated`: made-up values with configurable latency and faults, no hardware needed."
        ),
    )
    latency: Duration | LatencyRange = Field(
        0.0,
        description=(
            "How long each read takes: a duration, or `{min, max}` for a random one in that range."
        ),
        examples=["20ms"],
    )
    faults: Faults = Field(
        default_factory=Faults, description="Injected failures: errors and hangs at given rates."
    )
    fields: tuple[SimulatedField, ...] = Field(
        min_length=1,
        description="The values the device makes up: each a constant `value` or a `waveform`.",
    )


class _Latencies:
    """Simulated reads in flight on one loop, woken by one timer per millisecond, not one per
    read: at 10,000 devices that is 38% -> 35% of a core (bench/cycle.py, part 4). A read
    ends on the next whole millisecond of the loop's clock at or after it is due; its values
    are made then, from one wall-clock time for all the reads that end together."""

    TICK = 0.001

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._due: dict[int, list[tuple[asyncio.Future[Reading], SimulatedDriver, bool]]] = {}

    def read(self, delay: float, driver: SimulatedDriver, fail: bool) -> asyncio.Future[Reading]:
        """A future that gets `driver`'s reading (or its simulated fault) after `delay`."""
        tick = math.ceil((self.loop.time() + delay) / self.TICK)
        future: asyncio.Future[Reading] = self.loop.create_future()
        waiting = self._due.get(tick)
        if waiting is None:
            waiting = self._due[tick] = []
            self.loop.call_at(tick * self.TICK, self._wake, tick)
        waiting.append((future, driver, fail))
        return future

    def _wake(self, tick: int) -> None:
        now = time.time()  # wall clock: waveforms line up across restarts and daemons
        for future, driver, fail in self._due.pop(tick):
            if future.done():  # cancelled: its read's deadline passed
                continue
            if fail:
                future.set_exception(driver.fault())
            else:
                future.set_result(driver.values(now))


_latencies: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Latencies]
_latencies = weakref.WeakKeyDictionary()


def _latency_on(loop: asyncio.AbstractEventLoop) -> _Latencies:
    latencies = _latencies.get(loop)
    if latencies is None:
        latencies = _latencies[loop] = _Latencies(loop)
    return latencies


class SimulatedDriver(Driver[SimulatedConfig]):
    config_model = SimulatedConfig

    def __init__(self, config: SimulatedConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        faults = config.faults
        seed = faults.seed if faults.seed is not None else zlib.crc32(config.name.encode())
        self._rng = random.Random(seed)
        self._fields = [(f.name, signal_source(f, self._rng)) for f in config.fields]
        latency = config.latency
        # (min, max - min): random.uniform's sum, inline (a Python-level call per read)
        self._span = (
            (latency.min, latency.max - latency.min) if isinstance(latency, LatencyRange) else None
        )
        self._latency = 0.0 if isinstance(latency, LatencyRange) else latency
        self._hang_rate, self._fail_rate = faults.timeout_rate, faults.error_rate
        self._latencies: _Latencies | None = None  # of the loop of the last read

    def begin(self) -> asyncio.Future[Reading]:
        # A future, not a task: no coroutine per read (see `Driver.begin`).
        rng = self._rng
        span = self._span
        latency = self._latency if span is None else span[0] + span[1] * rng.random()
        hang = self._hang_rate > 0 and rng.random() < self._hang_rate
        fail = self._fail_rate > 0 and rng.random() < self._fail_rate
        latencies = self._latencies
        # The loop of the last read while it runs (a driver reads on one loop at a time), else
        # the running one: asyncio.get_running_loop() makes a getpid system call on Python
        # 3.11, a tenth of a 10,000-device start.
        if latencies is None or not latencies.loop.is_running():
            latencies = self._latencies = _latency_on(asyncio.get_running_loop())
        loop = latencies.loop
        if hang:  # never resolved: the loop's deadline cancels it
            return loop.create_future()
        if latency > 0:
            return latencies.read(latency, self, fail)
        future: asyncio.Future[Reading] = loop.create_future()
        if fail:
            future.set_exception(self.fault())
        else:
            future.set_result(self.values(time.time()))
        return future

    async def read(self) -> Reading:
        return await self.begin()

    def values(self, now: float) -> dict[str, Value | None]:
        """Every field's value at wall-clock time `now`."""
        return {name: generate(now) for name, generate in self._fields}

    def fault(self) -> DeviceError:
        return DeviceError("simulated fault", reason=self.config.faults.error_reason)
