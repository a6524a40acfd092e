"""Simulated devices: constants, waveforms within bounds, latency, seeded faults."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

import pytest

from sensorpoll.drivers import Buses, DeviceError
from sensorpoll.drivers.signal import Signal, signal_source
from sensorpoll.drivers.simulated import SimulatedConfig, SimulatedDriver


def driver(**config: Any) -> SimulatedDriver:
    config.setdefault("name", "sim")
    return SimulatedDriver(SimulatedConfig.model_validate(config), Buses())


async def test_constant_fields_read_back_with_their_types() -> None:
    d = driver(
        fields=[
            {"name": "a", "value": 21.5},
            {"name": "b", "value": True},
            {"name": "c", "value": "XS205"},
            {"name": "d", "value": 3},
        ]
    )
    assert await d.read() == {"a": 21.5, "b": True, "c": "XS205", "d": 3}
    assert [f.kind for f in d.config.fields] == ["number", "bool", "string", "number"]


@pytest.mark.parametrize("waveform", ["sine", "ramp", "square", "random_walk"])
async def test_waveforms_stay_within_min_and_max(waveform: str) -> None:
    d = driver(fields=[{"name": "x", "waveform": waveform, "min": -3, "max": 7, "period": 0.01}])
    values = []
    for _ in range(200):
        values.append((await d.read())["x"])
        await asyncio.sleep(0.001)  # a whole tick of the coarsest loop clock (uvloop: 1 ms)
    assert all(-3 <= v <= 7 for v in values)
    assert len({round(float(v), 6) for v in values}) > 1  # it moves


async def test_same_seed_gives_the_same_faults_and_walk() -> None:
    def make() -> SimulatedDriver:
        return driver(
            faults={"error_rate": 0.3, "seed": 42},
            fields=[{"name": "x", "waveform": "random_walk", "min": 0, "max": 100}],
        )

    async def outcomes(d: SimulatedDriver) -> list[Any]:
        out: list[Any] = []
        for _ in range(50):
            try:
                out.append((await d.read())["x"])
            except DeviceError as exc:
                out.append(exc.reason)
        return out

    first, second = await outcomes(make()), await outcomes(make())
    assert first == second
    assert 5 < first.count("io") < 25


async def test_a_timeout_fault_hangs_until_cancelled() -> None:
    d = driver(faults={"timeout_rate": 1.0}, fields=[{"name": "x", "value": 1}])
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await d.read()


async def test_latency_range_is_respected() -> None:
    d = driver(latency={"min": "20ms", "max": "30ms"}, fields=[{"name": "x", "value": 1}])
    # within the range: the read is over after a 40 ms timer, still running after a 15 ms one
    read = asyncio.create_task(d.read())
    await asyncio.sleep(0.015)
    assert not read.done()
    await asyncio.wait({read}, timeout=0.04 - 0.015)
    assert read.done()


def test_sine_is_centred_between_min_and_max() -> None:
    sine = Signal(waveform="sine", min=10, max=20, period=4)
    generate = signal_source(sine, random.Random(0))
    assert generate(0.0) == pytest.approx(15)
    assert generate(1.0) == pytest.approx(20)
    assert generate(3.0) == pytest.approx(10)
    assert not math.isnan(float(generate(1e9)))


def test_a_stateless_signal_is_one_function_for_every_field_that_has_it() -> None:
    rng = random.Random(0)

    def source(**spec: Any) -> Any:
        return signal_source(Signal(**spec), rng)

    sine = source(waveform="sine", min=0, max=10, period=60)
    assert source(waveform="sine", min=0.0, max=10, period="60s") is sine
    assert source(waveform="sine", min=0, max=10, period=30) is not sine
    assert source(waveform="ramp", min=0, max=10, period=60) is not sine
    for now in (0.0, 1.25, 1.7e9 + 0.123, 2e9 + 7.5):  # the formula, bit for bit
        assert sine(now) == 5 + 5 * math.sin(2 * math.pi * now / 60)
    # equal settings only: True is not 1, and -0.0 is not 0.0
    assert type(source(value=1.0)(0.0)) is float
    assert source(value=True)(0.0) is True
    low = source(waveform="square", min=-0.0, max=1, period=2)(1.5)  # the low half
    assert math.copysign(1, low) == -1
    assert math.copysign(1, source(waveform="square", min=0.0, max=1, period=2)(1.5)) == 1
    # a random walk has state of its own
    assert source(waveform="random_walk") is not source(waveform="random_walk")
