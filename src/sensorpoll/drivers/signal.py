"""Made-up values: a constant or a waveform over wall-clock time (flow stage 2, simulation).

The fields of `driver: simulated` are signals, and so are the `simulate:` hints of Modbus
and serial fields, which `sensorpoll simulate` serves.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Literal, Self

from pydantic import Field, model_validator

from sensorpoll.config.schema import Model
from sensorpoll.config.types import PositiveDuration

Waveform = Literal["sine", "ramp", "square", "random_walk"]

SignalValue = float | bool | str


class Signal(Model):
    """A made-up value: a constant, or a waveform between min and max."""

    value: SignalValue | None = Field(
        None,
        description="A constant: a number, true/false, or a text (give this or `waveform`).",
        examples=[21.5],
    )
    waveform: Waveform | None = Field(
        None,
        description=(
            "A made-up signal between `min` and `max` over wall-clock time: sine, "
            "ramp (sawtooth), square, or random_walk (steps of ~2% of the range) "
            "(give this or `value`)."
        ),
        examples=["sine"],
    )
    min: float = Field(0.0, description="The waveform's lowest value.")
    max: float = Field(1.0, description="The waveform's highest value.")
    period: PositiveDuration = Field(
        60.0, description="The waveform's period (not used by random_walk).", examples=["60s"]
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.value is None) == (self.waveform is None):
            raise ValueError("give exactly one of `value` (a constant) or `waveform`")
        if self.waveform is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self


def signal_source(signal: Signal, rng: random.Random) -> Callable[[float], SignalValue]:
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
