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
        return _constant(signal.value)
    low, high, period = signal.min, signal.max, signal.period
    if signal.waveform is not None and signal.waveform != "random_walk":
        return _waveform(signal.waveform, low, high, period)
    mid = (low + high) / 2
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


# Stateless signals, one function for every field that has it: 10,000 simulated devices from
# one template read one function, not 20,000 copies scattered over the heap (at 1 Hz each
# cycle runs on a cold cache; bench/cycle.py part 4). Keyed exactly: float.hex keeps 0.0 and
# -0.0 apart, the type keeps True and 1.0 apart.
_PURE: dict[tuple[object, ...], Callable[[float], SignalValue]] = {}


def _constant(value: SignalValue) -> Callable[[float], SignalValue]:
    key = (type(value), value.hex() if isinstance(value, float) else value)
    source = _PURE.get(key)
    if source is None:
        source = _PURE[key] = lambda now: value
    return source


def _waveform(
    waveform: Waveform, low: float, high: float, period: float
) -> Callable[[float], SignalValue]:
    key = (waveform, float(low).hex(), float(high).hex(), float(period).hex())
    source = _PURE.get(key)
    if source is None:
        source = _PURE[key] = _make_waveform(waveform, low, high, period)
    return source


def _make_waveform(
    waveform: Waveform, low: float, high: float, period: float
) -> Callable[[float], SignalValue]:
    mid, amplitude = (low + high) / 2, (high - low) / 2
    sin, tau = math.sin, 2 * math.pi  # the same arithmetic as mid + a * sin(2 * pi * t / p)
    if waveform == "sine":
        return lambda now: mid + amplitude * sin(tau * now / period)
    if waveform == "ramp":
        return lambda now: low + (high - low) * ((now / period) % 1.0)
    return lambda now: high if (now / period) % 1.0 < 0.5 else low  # square
