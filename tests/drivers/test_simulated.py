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
