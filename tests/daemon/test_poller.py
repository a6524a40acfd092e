"""The cycle: concurrent reads, per-device deadlines, configuration order, error reasons."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Literal

import pytest

from sensorpoll.config import DeviceConfig, FieldConfig, Settings
from sensorpoll.daemon.poller import BACKOFF_AFTER, DevicePoller, poll_cycle
from sensorpoll.drivers import Buses, DeviceError, Driver, Value
from sensorpoll.drivers.simulated import SimulatedConfig, SimulatedDriver


def sim(name: str, **extra: Any) -> SimulatedDriver:
    fields = extra.pop("fields", [{"name": "x", "value": 1.5}])
    config = SimulatedConfig.model_validate({"name": name, "fields": fields, **extra})
    return SimulatedDriver(config, Buses())


def pollers(*drivers: Driver[Any], deadline: float = 0.3, interval: float = 1.0) -> list[Any]:
    return [DevicePoller(d, deadline, interval) for d in drivers]


class ScriptConfig(DeviceConfig):
    driver: Literal["script"] = "script"


class ScriptDriver(Driver[ScriptConfig]):
    """A driver whose read does what the test says: how a third-party driver might behave."""

    config_model = ScriptConfig

    def __init__(self, name: str, behaviour: Any) -> None:
        config = ScriptConfig(name=name, fields=(FieldConfig(name="x"),))
        super().__init__(config, Buses())
        self.behaviour = behaviour
        self.reads = 0

    async def read(self) -> Mapping[str, Value]:
        self.reads += 1
        result = self.behaviour()
        if asyncio.iscoroutine(result):
            result = await result
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]


class FutureDriver(ScriptDriver):
    """A driver that starts its reads with `begin`: a future the test resolves, fails or
    leaves pending; `behaviour` raising makes `begin` itself raise."""

    def __init__(self, name: str, behaviour: Any = None) -> None:
        super().__init__(name, behaviour)
        self.futures: list[asyncio.Future[Any]] = []

    def begin(self) -> asyncio.Future[Any]:
        if self.behaviour is not None:
            self.behaviour()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future


async def test_reads_begun_as_futures_and_as_tasks_come_back_in_configuration_order() -> None:
    begun = [FutureDriver(f"f{i}") for i in range(3)]
    drivers = [begun[0], sim("t0", latency=0.02), begun[1], sim("t1"), begun[2]]
    loop = asyncio.get_running_loop()
    for i, driver in enumerate(begun):  # resolved in reverse order, after the tasks' reads
        loop.call_later(0.05 - 0.01 * i, lambda d=driver, i=i: d.futures[0].set_result({"x": i}))
    cycle = await poll_cycle(pollers(*drivers), 1)
    assert [d.device for d in cycle.devices] == ["f0", "t0", "f1", "t1", "f2"]
    assert [d.values for d in cycle.devices] == [
        {"x": 0},
        {"x": 1.5},
        {"x": 1},
        {"x": 1.5},
        {"x": 2},
    ]
    assert all(d.ok for d in cycle.devices)
    assert cycle.devices[0].duration_s > cycle.devices[4].duration_s  # each its own end time
    assert not any(d.reads for d in begun), "a driver with begin() is not read() in a task"


async def test_a_begun_read_left_pending_times_out_at_its_deadline() -> None:
    driver = FutureDriver("silent")
    cycle = await poll_cycle(pollers(driver, sim("fine"), deadline=0.05), 1)
    assert [(d.ok, d.error) for d in cycle.devices] == [(False, "timeout"), (True, None)]
    assert driver.futures[0].cancelled(), "the deadline cancels the driver's future"


async def test_a_begun_read_that_fails_reports_its_reason() -> None:
    driver = FutureDriver("crc")
    asyncio.get_running_loop().call_soon(
        lambda: driver.futures[0].set_exception(DeviceError("bad frame", reason="crc"))
    )
    cycle = await poll_cycle(pollers(driver), 1)
    assert (cycle.devices[0].ok, cycle.devices[0].error, cycle.devices[0].detail) == (
        False,
        "crc",
        "bad frame",
    )


async def test_a_begin_that_raises_fails_that_device_only() -> None:
    def refuse() -> None:
        raise ConnectionRefusedError("refused")

    cycle = await poll_cycle(pollers(FutureDriver("refused", refuse), sim("fine")), 1)
    assert [(d.ok, d.error) for d in cycle.devices] == [(False, "connection"), (True, None)]


async def test_a_begun_read_returning_a_field_short_is_an_internal_error() -> None:
    driver = FutureDriver("short")
    asyncio.get_running_loop().call_soon(lambda: driver.futures[0].set_result({"y": 1}))
    cycle = await poll_cycle(pollers(driver), 1)
    assert cycle.devices[0].error == "internal"


async def test_devices_are_read_concurrently() -> None:
    devices = pollers(*(sim(f"d{i}", latency=0.1) for i in range(200)))
    cycle = await poll_cycle(devices, 1)
    assert all(d.ok for d in cycle.devices)
    one_after_another = sum(d.duration_s for d in cycle.devices)  # ~20 s
    assert cycle.duration_s < one_after_another / 20


async def test_results_come_back_in_configuration_order_even_when_the_first_is_slowest() -> None:
    names = [f"d{i}" for i in range(50)]
    devices = pollers(*(sim(n, latency=0.15 if i == 0 else 0.001 * i) for i, n in enumerate(names)))
    cycle = await poll_cycle(devices, 7)
    assert [d.device for d in cycle.devices] == names
    assert cycle.number == 7


async def test_hung_device_does_not_delay_the_cycle() -> None:
    healthy = [sim(f"ok{i}", latency=0.01, fields=[{"name": "x", "value": i}]) for i in range(50)]
    hung = sim("hung", faults={"timeout_rate": 1.0})
    broken = sim("broken", faults={"error_rate": 1.0, "error_reason": "crc"})
    cycle = await poll_cycle(pollers(hung, *healthy, broken, deadline=0.2), 1)
    by_name = {d.device: d for d in cycle.devices}
    assert [by_name[f"ok{i}"].values for i in range(50)] == [{"x": i} for i in range(50)]
    assert (by_name["hung"].ok, by_name["hung"].error, by_name["hung"].values) == (
        False,
        "timeout",
        {},
    )
    assert (by_name["broken"].ok, by_name["broken"].error, by_name["broken"].values) == (
        False,
        "crc",
        {},
    )
    # every healthy read was done long before the hung one was cut off at its deadline
    assert max(by_name[f"ok{i}"].duration_s for i in range(50)) < by_name["hung"].duration_s / 2
    assert cycle.failed == 2


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (DeviceError("bad crc", reason="crc"), "crc"),
        (ConnectionRefusedError("refused"), "connection"),
        (OSError(5, "Input/output error"), "io"),
        (TimeoutError(), "timeout"),
        (ValueError("driver bug"), "internal"),
        (KeyError("x"), "internal"),
    ],
)
async def test_a_failed_read_reports_its_reason_and_no_values(
    raised: BaseException, reason: str
) -> None:
    cycle = await poll_cycle(pollers(ScriptDriver("d", lambda: raised)), 1)
    (result,) = cycle.devices
    assert (result.ok, result.error, result.values) == (False, reason, {})


async def test_a_driver_returning_a_field_short_is_an_internal_error() -> None:
    cycle = await poll_cycle(pollers(ScriptDriver("d", lambda: {"y": 1})), 1)
    assert cycle.devices[0].error == "internal"
    assert "no value for field x" in (cycle.devices[0].detail or "")


async def test_a_driver_returning_a_non_value_is_an_internal_error() -> None:
    cycle = await poll_cycle(pollers(ScriptDriver("d", lambda: {"x": [1, 2]})), 1)
    assert (cycle.devices[0].ok, cycle.devices[0].error) == (False, "internal")


async def test_a_driver_that_swallows_cancellation_cannot_hold_the_cycle() -> None:
    release = asyncio.Event()

    async def stubborn() -> dict[str, Value]:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue  # a badly written driver
        return {"x": 1}

    driver = ScriptDriver("stubborn", stubborn)
    devices = pollers(driver, sim("fine"), deadline=0.1)
    first = await poll_cycle(devices, 1)
    assert devices[0].stuck, "the cycle ended while the stubborn read still runs"
    assert [(d.ok, d.error) for d in first.devices] == [(False, "timeout"), (True, None)]
    second = await poll_cycle(devices, 2)  # still stuck: not read again, its neighbour is
    assert driver.reads == 1
    assert [(d.ok, d.attempted) for d in second.devices] == [(False, False), (True, True)]
    release.set()
    await asyncio.sleep(0.05)
    assert not devices[0].stuck
    # one failure so far, fewer than BACKOFF_AFTER: read again at once
    third = await poll_cycle(devices, 3)
    assert third.devices[0].ok


async def test_a_failing_device_backs_off_and_is_read_again_on_recovery() -> None:
    healthy = [False]
    driver = ScriptDriver("flaky", lambda: {"x": 1} if healthy[0] else OSError("gone"))
    (poller,) = pollers(driver, interval=0.05)
    for number in range(1, BACKOFF_AFTER + 4):
        await poll_cycle([poller], number)
        await asyncio.sleep(0.05)
    # after BACKOFF_AFTER failures the device is read less often than every cycle
    assert BACKOFF_AFTER < driver.reads < BACKOFF_AFTER + 3
    healthy[0] = True
    for number in range(20):
        cycle = await poll_cycle([poller], 100 + number)
        if cycle.devices[0].ok:
            break
        assert cycle.devices[0].attempted is False or cycle.devices[0].error == "io"
        await asyncio.sleep(0.05)
    assert cycle.devices[0].ok


async def test_down_and_up_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    state = {"fail": True}
    driver = ScriptDriver("pump", lambda: OSError("no route") if state["fail"] else {"x": 1})
    (poller,) = pollers(driver)
    with caplog.at_level(logging.DEBUG, logger="sensorpoll.poll"):
        for number in range(1, 3):
            await poll_cycle([poller], number)
        state["fail"] = False  # two failures, fewer than BACKOFF_AFTER: no backoff yet
        await poll_cycle([poller], 3)
        await poll_cycle([poller], 4)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.getMessage() for r in warnings] == ["device pump is down: io: no route"]
    assert [r.getMessage() for r in infos] == ["device pump is back up after 2 failed reads"]


def test_each_device_gets_its_own_deadline_from_the_config() -> None:
    settings = Settings.model_validate(
        {
            "interval": 1.0,
            "timeout": 0.5,
            "devices": [
                SimulatedConfig(name="a", fields=({"name": "x", "value": 1},)),
                SimulatedConfig(name="b", timeout=0.2, fields=({"name": "x", "value": 1},)),
            ],
        }
    )
    assert [settings.deadline(d) for d in settings.devices] == [0.5, 0.2]


async def test_back_up_after_one_failed_read_is_worded_for_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = {"fail": True}
    driver = ScriptDriver("pump", lambda: OSError("no route") if state["fail"] else {"x": 1})
    (poller,) = pollers(driver)
    with caplog.at_level(logging.INFO, logger="sensorpoll.poll"):
        await poll_cycle([poller], 1)
        state["fail"] = False
        await poll_cycle([poller], 2)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["device pump is back up after 1 failed read"]
