"""Poll rates against real pymodbus slaves: devices and fields read at their own multiple of
the interval, counted at the slave; carried values between reads, dropped when a read fails."""

from __future__ import annotations

from typing import Any

import pytest

from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.drivers.modbus import ModbusDriver

from .conftest import device
from .counting import counting

pytestmark = pytest.mark.asyncio

BASE = 1.0  # the top-level interval every test runs on (cycles are driven by tick, not clock)


def rtu(name: str, unit: int, port: str, **extra: Any) -> Any:
    return device(
        name=name, transport="rtu", port=port, baudrate=115200, unit_id=unit, host=None, **extra
    )


def poller(config: Any, buses: Any, deadline: float = 0.5) -> DevicePoller:
    return DevicePoller(ModbusDriver(config, buses), deadline, BASE)  # type: ignore[arg-type]


async def run_ticks(pollers: list[DevicePoller], ticks: range) -> list[Any]:
    cycles = []
    for tick in ticks:
        cycles.append(await poll_cycle(pollers, tick + 1, tick=tick))
    return cycles


async def test_a_fast_and_a_slow_device_on_one_line_keep_their_rates(pty_link, rtu_slave, buses):
    fast_unit, slow_unit = counting({0: 11}), counting({0: 22})
    await rtu_slave({1: fast_unit, 2: slow_unit})
    fast = poller(rtu("fast", 1, pty_link.ends[0]), buses)
    slow = poller(rtu("slow", 2, pty_link.ends[0], interval="10s"), buses)
    cycles = await run_ticks([fast, slow], range(21))
    assert all(d.ok for c in cycles for d in c.devices)
    # the first read, then exactly one in each run of ten grid points
    assert (fast_unit.reads_of("holding", 0), slow_unit.reads_of("holding", 0)) == (21, 3)
    assert all(c.devices[1].values == {"value": 22} for c in cycles)


async def test_fields_of_each_rate_are_requested_only_when_due(tcp_slave, open_driver, buses):
    unit = counting({0: 1, 50: 2})
    slave = await tcp_slave({1: unit})
    fields = [
        {"name": "fast", "address": 0},
        {"name": "slow", "address": 50, "interval": "10s"},
    ]
    meter = poller(device(port=slave.port, fields=fields), buses)
    cycles = await run_ticks([meter], range(21))
    assert (unit.reads_of("holding", 0), unit.reads_of("holding", 50)) == (21, 3)
    assert all(c.devices[0].values == {"fast": 1, "slow": 2} for c in cycles)
    await meter.driver.aclose()


async def test_fields_of_one_rate_share_a_request_and_other_rates_get_their_own(tcp_slave, buses):
    unit = counting({0: 1, 1: 2, 2: 3})
    slave = await tcp_slave({1: unit})
    fields = [
        {"name": "a", "address": 0},
        {"name": "b", "address": 1, "interval": "5s"},
        {"name": "c", "address": 2},
    ]
    meter = poller(device(port=slave.port, fields=fields), buses)
    await run_ticks([meter], range(1))
    # a and c (every cycle) in one request spanning b's register; b on its own
    assert sorted(unit.requests) == [("holding", 0, 3), ("holding", 1, 1)]
    await meter.driver.aclose()


async def test_a_carried_value_keeps_the_time_it_was_read(tcp_slave, buses):
    unit = counting({0: 1, 50: 7})
    slave = await tcp_slave({1: unit})
    fields = [{"name": "fast", "address": 0}, {"name": "slow", "address": 50, "interval": "10s"}]
    meter = poller(device(port=slave.port, fields=fields), buses)
    first, second = await run_ticks([meter], range(2))
    unit.tables["holding"][50] = 8  # the device changes; not read again before it is due
    assert first.devices[0].carried == {}
    read_at = second.devices[0].carried["slow"]
    assert first.started <= read_at <= second.started
    later = await run_ticks([meter], range(2, 11))
    for cycle in later:
        result = cycle.devices[0]
        if "slow" in result.carried:
            assert (result.values["slow"], result.carried["slow"]) == (7, read_at)
        else:  # its read came due: the new value, read now
            assert result.values["slow"] == 8
            break
    else:
        raise AssertionError("the slow field was not read in ten grid points")
    await meter.driver.aclose()


async def test_a_failed_read_drops_carried_values_and_the_next_read_reads_every_field(
    tcp_slave, buses
):
    unit = counting({0: 1, 50: 7})
    slave = await tcp_slave({1: unit})
    fields = [{"name": "fast", "address": 0}, {"name": "slow", "address": 50, "interval": "1h"}]
    meter = poller(device(port=slave.port, fields=fields), buses)
    await run_ticks([meter], range(2))
    del unit.tables["holding"][0]  # the fast register stops answering: the read fails
    (failed,) = await run_ticks([meter], range(2, 3))
    assert (failed.devices[0].ok, failed.devices[0].values, failed.devices[0].carried) == (
        False,
        {},
        {},
    )
    unit.tables["holding"][0] = 1
    before = unit.reads_of("holding", 50)
    (back,) = await run_ticks([meter], range(3, 4))
    assert back.devices[0].values == {"fast": 1, "slow": 7}
    assert back.devices[0].carried == {}  # read again now, though not due for an hour
    assert unit.reads_of("holding", 50) == before + 1
    await meter.driver.aclose()


async def test_devices_of_one_rate_are_spread_over_its_cycles(tcp_slave, buses):
    units = {i: counting({0: i}) for i in range(1, 11)}
    slave = await tcp_slave(units)
    meters = [
        poller(device(name=f"meter_{i}", port=slave.port, unit_id=i, interval="10s"), buses)
        for i in units
    ]
    await run_ticks(meters, range(1))  # the first read: everyone
    per_tick = []
    for tick in range(1, 11):
        before = sum(len(u.requests) for u in units.values())
        await run_ticks(meters, range(tick, tick + 1))
        per_tick.append(sum(len(u.requests) for u in units.values()) - before)
    assert sum(per_tick) == 10  # each device once in ten grid points
    assert max(per_tick) < 10  # not all on one
    for meter in meters:
        await meter.driver.aclose()


async def test_the_spread_is_the_same_for_a_new_poller_of_the_same_device(tcp_slave, buses):
    unit = counting({0: 1})
    slave = await tcp_slave({1: unit})

    async def read_ticks() -> list[int]:
        meter = poller(device(name="meter_7", port=slave.port, interval="10s"), buses)
        cycles = await run_ticks([meter], range(12))
        await meter.driver.aclose()
        return [c.number for c in cycles if c.devices[0].attempted]

    first, again = await read_ticks(), await read_ticks()
    assert first == again
    assert len(first) in (2, 3)  # the first read, and the device's grid points among 1-11
