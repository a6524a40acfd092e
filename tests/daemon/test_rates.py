"""Device poll rates in the loop: a device is read on its own multiple of the interval, its
last values carried in between, never after a failed read."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from typing import Any, Literal

from sensorpoll.config import DeviceConfig, FieldConfig
from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.drivers import Buses, DeviceError, Driver, Value


class CountedConfig(DeviceConfig):
    driver: Literal["counted"] = "counted"


class CountedDriver(Driver[CountedConfig]):
    """Reads `value` (raising it when it is an error) and counts its reads."""

    config_model = CountedConfig

    def __init__(self, name: str, **config: Any) -> None:
        fields = (FieldConfig(name="x"), FieldConfig(name="y"))
        super().__init__(CountedConfig(name=name, fields=fields, **config), Buses())
        self.value: float | DeviceError = 1.0
        self.reads = 0

    async def read(self) -> Mapping[str, Value]:
        self.reads += 1
        if isinstance(self.value, DeviceError):
            raise self.value
        return {"x": self.value, "y": -self.value}


def poller(driver: Driver[Any], interval: float = 1.0) -> DevicePoller:
    return DevicePoller(driver, 0.3, interval)


async def cycles(pollers: list[DevicePoller], ticks: range) -> list[Any]:
    return [await poll_cycle(pollers, tick + 1, tick=tick) for tick in ticks]


async def test_a_device_with_an_interval_is_read_once_per_interval() -> None:
    driver = CountedDriver("tank", interval=5.0)
    await cycles([poller(driver)], range(11))
    assert driver.reads == 3  # the first read, then one in each five grid points


async def test_a_device_without_an_interval_is_read_every_cycle() -> None:
    driver = CountedDriver("pump")
    await cycles([poller(driver)], range(7))
    assert driver.reads == 7


async def test_between_reads_the_last_values_are_carried_with_their_read_time() -> None:
    driver = CountedDriver("tank", interval=5.0)
    first, *rest = await cycles([poller(driver)], range(5))
    assert first.devices[0].carried == {}
    carried = [c.devices[0] for c in rest if not c.devices[0].attempted]
    assert carried, "no cycle carried the values"
    for result in carried:
        assert (result.ok, result.error, result.values) == (True, None, {"x": 1.0, "y": -1.0})
        assert set(result.carried) == {"x", "y"}
        assert first.started <= result.carried["x"] <= rest[-1].started


async def test_values_of_a_failed_read_are_never_carried() -> None:
    driver = CountedDriver("tank", interval=5.0)
    device = poller(driver)
    await cycles([device], range(1))
    driver.value = DeviceError("unplugged", reason="connection")
    results = [c.devices[0] for c in await cycles([device], range(1, 6))]
    failed = [r for r in results if r.attempted]
    assert failed
    assert all(r.error == "connection" for r in failed)
    after = results[results.index(failed[0]) :]
    assert all(not r.ok and r.values == {} and r.carried == {} for r in after)


async def test_a_failed_slow_device_is_retried_as_a_failed_device_not_at_its_rate() -> None:
    driver = CountedDriver("tank", interval=3600.0)
    driver.value = DeviceError("unplugged", reason="connection")
    device = poller(driver)
    await cycles([device], range(2))
    assert driver.reads == 2  # with no value to carry, waiting an hour would help nobody
    driver.value = 1.0
    results = [c.devices[0] for c in await cycles([device], range(2, 5))]
    assert [r.attempted for r in results] == [True, False, False]


async def test_the_values_of_the_next_read_replace_the_carried_ones() -> None:
    driver = CountedDriver("tank", interval=2.0)
    device = poller(driver)
    await cycles([device], range(2))
    driver.value = 2.0
    results = [c.devices[0] for c in await cycles([device], range(2, 6))]
    fresh = [r for r in results if r.attempted]
    assert fresh
    assert all(r.values == {"x": 2.0, "y": -2.0} and r.carried == {} for r in fresh)
    later = results[results.index(fresh[0]) :]
    assert all(r.values == {"x": 2.0, "y": -2.0} for r in later)


async def test_skipped_grid_points_do_not_stretch_a_rate() -> None:
    driver = CountedDriver("tank", interval=5.0)
    device = poller(driver)
    await cycles([device], range(1))
    # an overrun skipped grid points 1-12: the read due among them happens at the next one
    await cycles([device], range(13, 14))
    assert driver.reads == 2


def test_a_phase_is_the_same_for_the_same_name_and_spreads_similar_names() -> None:
    from sensorpoll.config.rates import phase

    assert phase("meter_1") == phase("meter_1")
    assert len({phase(f"meter_{i}") % 10 for i in range(1, 11)}) >= 5


def test_the_daemon_reads_a_slow_device_on_its_own_grid_points(daemon) -> None:  # type: ignore[no-untyped-def]
    from tests.daemon.harness import simulated

    daemon.write_config([simulated("fast"), simulated("slow", interval="1s")], interval="200ms")
    daemon.start()
    daemon.wait_for_cycle(lambda c: c["cycle"] >= 16)
    served = daemon.get("/api/v1/cycle")
    lines = daemon.cycles()
    daemon.signal(signal.SIGTERM)
    daemon.wait(10)
    slow = [c for c in lines if "slow" in {d["device"] for d in c["devices"]}]
    # the jsonl sink logs the slow device only when it was read: about one line in five
    assert 2 <= len(slow) <= len(lines) // 2
    assert all("carried" not in d for c in lines for d in c["devices"])
    assert all(
        d["device"] == "fast" or d["values"] == {"value": 1.5} for c in slow for d in c["devices"]
    )
    (slow_now,) = [d for d in served["devices"] if d["device"] == "slow"]
    assert slow_now["ok"]
    assert slow_now["values"] == {"value": 1.5}
