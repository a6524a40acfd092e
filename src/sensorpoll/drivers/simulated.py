"""Simulated devices: waveforms or constants, configurable latency and injected faults.

Stands in for hardware in the demo and the tests (as httpx's MockTransport does for HTTP).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Literal, Self

from pydantic import Field, model_validator

from sensorpoll.config.schema import DeviceConfig, FieldConfig, Model, ValueKind
from sensorpoll.config.types import Duration, PositiveDuration
from sensorpoll.drivers.base import Driver, Value
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.errors import DeviceError

Waveform = Literal["sine", "ramp", "square", "random_walk"]


class LatencyRange(Model):
    min: Duration
    max: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}s) is greater than max ({self.max:g}s)")
        return self


class Faults(Model):
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    timeout_rate: float = Field(0.0, ge=0.0, le=1.0)  # a timed-out read hangs until cancelled
    error_reason: str = Field("io", pattern=r"^[a-z_][a-z0-9_:]*$")
    seed: int | None = None  # None: derived from the device name, so runs repeat


class Signal(Model):
    """A made-up value: a constant, or a waveform between min and max. Simulated devices'
    fields are signals; so are the `simulate:` hints of Modbus and serial fields."""

    value: float | bool | str | None = None
    waveform: Waveform | None = None
    min: float = 0.0
    max: float = 1.0
    period: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.value is None) == (self.waveform is None):
            raise ValueError("give exactly one of `value` (a constant) or `waveform`")
        if self.waveform is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self


class SimulatedField(FieldConfig, Signal):
    @property
    def kind(self) -> ValueKind:
        if isinstance(self.value, bool):
            return "bool"
        if isinstance(self.value, str):
            return "string"
        return "number"


class SimulatedConfig(DeviceConfig):
    driver: Literal["simulated"] = "simulated"
    latency: Duration | LatencyRange = 0.0
    faults: Faults = Field(default_factory=Faults)
    fields: tuple[SimulatedField, ...] = Field(min_length=1)


def signal_source(signal: Signal, rng: random.Random) -> Callable[[float], Value]:
    """The signal's value at wall-clock time `now` (random_walk steps once per call)."""
    if signal.value is not None:
        constant = signal.value
        return lambda now: constant
    low, high, period = signal.min, signal.max, signal.period
    mid, amplitude = (low + high) / 2, (high - low) / 2
    if signal.waveform == "sine":
        return lambda now: mid + amplitude * math.sin(2 * math.pi * now / period)
    if signal.waveform == "ramp":
        return lambda now: low + (high - low) * ((now / period) % 1.0)
    if signal.waveform == "square":
        return lambda now: high if (now / period) % 1.0 < 0.5 else low
    # random_walk: a step of ~2% of the range per read, reflected at the bounds
    state = [mid]
    step = (high - low) * 0.02

    def walk(now: float) -> float:
        value = state[0] + rng.gauss(0.0, step)
        if value > high:
            value = 2 * high - value
        if value < low:
            value = 2 * low - value
        state[0] = min(high, max(low, value))
        return state[0]

    return walk


class SimulatedDriver(Driver[SimulatedConfig]):
    config_model = SimulatedConfig

    def __init__(self, config: SimulatedConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        faults = config.faults
        seed = faults.seed if faults.seed is not None else zlib.crc32(config.name.encode())
        self._rng = random.Random(seed)
        self._fields = [(f.name, signal_source(f, self._rng)) for f in config.fields]

    def _latency(self) -> float:
        latency = self.config.latency
        if isinstance(latency, LatencyRange):
            return self._rng.uniform(latency.min, latency.max)
        return latency

    async def read(self) -> Mapping[str, Value]:
        faults = self.config.faults
        latency = self._latency()
        hang = faults.timeout_rate > 0 and self._rng.random() < faults.timeout_rate
        fail = faults.error_rate > 0 and self._rng.random() < faults.error_rate
        if hang:
            await asyncio.Event().wait()  # never set: hangs until the loop's deadline cancels it
        if latency > 0:
            await asyncio.sleep(latency)
        if fail:
            raise DeviceError("simulated fault", reason=faults.error_reason)
        now = time.time()  # wall clock: waveforms line up across restarts and daemons
        return {name: generate(now) for name, generate in self._fields}
