"""Recovery after an outage: how soon a device is read again once its slave is back. Real
pymodbus slaves, stopped and restarted (connection refused) or cut off behind a partition
and healed (timeouts), polled by the real loop on its grid."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sensorpoll.config import Settings, parse_settings
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.daemon.devices import Devices
from sensorpoll.daemon.poller import SHARED_BACKOFF_CYCLES
from sensorpoll.daemon.schedule import Grid
from sensorpoll.drivers import registry
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from tests.fakes.partition import Partition

NextCycle = Callable[[], Awaitable[Cycle]]
INTERVAL = 0.2
# Deep enough into an outage that a backoff growing without a bound tied to the interval
# waits longer between attempts than the bounds under test (the old one: 16 cycles by then).
ATTEMPTS_DOWN = 8


def image(value: int) -> UnitImage:
    unit = UnitImage()
    unit.tables["holding"][0] = value
    return unit


def settings(port: int, *units: int, transport: str = "tcp") -> Settings:
    devices = "".join(
        f"""
  - name: unit{unit}
    driver: modbus
    transport: {transport}
    host: 127.0.0.1
    port: {port}
    unit_id: {unit}
    fields: [{{name: value, table: holding, address: 0, type: uint16}}]"""
        for unit in units
    )
    text = f"interval: {INTERVAL}s\ntimeout: 150ms\ndevices:{devices}\n"
    return parse_settings(text, "outage.yaml", registry.config_model)


@asynccontextmanager
async def polling(config: Settings) -> AsyncIterator[NextCycle]:
    """`next_cycle()`: the next cycle on the grid, as `sensorpoll run` polls."""
    devices = Devices(config)
    loop = asyncio.get_running_loop()
    grid = Grid(INTERVAL, loop.time())

    async def next_cycle() -> Cycle:
        await grid.wait()
        cycle = await devices.cycle()
        grid.advance(loop.time())
        return cycle

    try:
        yield next_cycle
    finally:
        await devices.aclose()


async def down_until_deep(next_cycle: NextCycle, name: str) -> None:
    """Poll through the outage until `name` has failed ATTEMPTS_DOWN real attempts; returns
    right after such an attempt, when the next one is as far off as the backoff makes it."""
    attempts = 0
    for _ in range(80):
        result = by_name(await next_cycle(), name)
        assert not result.ok
        attempts += result.attempted
        if attempts >= ATTEMPTS_DOWN and result.attempted:
            return
    raise AssertionError(f"{name} made only {attempts} attempts in 80 cycles")


async def cycles_until_back(next_cycle: NextCycle, names: list[str], limit: int) -> int:
    """How many cycles it takes until every one of `names` reads again (limit + 1: never)."""
    back: set[str] = set()
    for count in range(1, limit + 1):
        cycle = await next_cycle()
        back |= {name for name in names if by_name(cycle, name).ok}
        if back == set(names):
            return count
    return limit + 1


def by_name(cycle: Cycle, name: str) -> DeviceResult:
    return next(d for d in cycle.devices if d.device == name)


async def test_a_device_on_its_own_connection_is_back_within_two_cycles_of_its_slave() -> None:
    slave = await SimulatedSlave.tcp({1: image(5)})
    port = slave.port
    async with polling(settings(port, 1)) as next_cycle:
        assert by_name(await next_cycle(), "unit1").ok
        await slave.aclose()  # connection refused from now on
        await down_until_deep(next_cycle, "unit1")
        slave = await SimulatedSlave.tcp({1: image(6)}, port=port)
        try:
            assert await cycles_until_back(next_cycle, ["unit1"], limit=5) <= 2
        finally:
            await slave.aclose()


async def test_a_device_on_its_own_connection_is_back_within_two_cycles_after_a_partition() -> None:
    slave = await SimulatedSlave.tcp({1: image(5)})
    partition = await Partition(slave.port).start()
    try:
        async with polling(settings(partition.port, 1)) as next_cycle:
            assert by_name(await next_cycle(), "unit1").ok
            partition.cut()  # requests and new connections go unanswered: timeouts
            await down_until_deep(next_cycle, "unit1")
            partition.heal()
            assert await cycles_until_back(next_cycle, ["unit1"], limit=5) <= 2
    finally:
        await partition.aclose()
        await slave.aclose()


async def test_timeouts_on_a_shared_gateway_back_off_at_most_a_bounded_number_of_cycles() -> None:
    gateway = await SimulatedSlave.tcp({1: image(1), 2: image(2)}, framer="rtu")
    partition = await Partition(gateway.port).start()
    try:
        config = settings(partition.port, 1, 2, transport="rtu-over-tcp")
        async with polling(config) as next_cycle:
            assert all(d.ok for d in (await next_cycle()).devices)
            partition.cut()
            attempted = []  # during the cut, cycle by cycle: is unit1 read at all?
            for _ in range(3 * SHARED_BACKOFF_CYCLES):
                attempted.append(by_name(await next_cycle(), "unit1").attempted)
            # a timeout on a shared line holds the neighbours up: not retried every cycle...
            assert attempted[-SHARED_BACKOFF_CYCLES:].count(True) < SHARED_BACKOFF_CYCLES / 2
            await down_until_deep(next_cycle, "unit1")
            partition.heal()
            # ... but never waited out longer than SHARED_BACKOFF_CYCLES intervals
            back = await cycles_until_back(next_cycle, ["unit1", "unit2"], limit=20)
            assert back <= SHARED_BACKOFF_CYCLES + 1
    finally:
        await partition.aclose()
        await gateway.aclose()


async def test_connection_refused_by_a_shared_gateway_is_retried_as_cheaply_as_a_lone_device() -> (
    None
):
    gateway = await SimulatedSlave.tcp({1: image(1), 2: image(2)}, framer="rtu")
    port = gateway.port
    async with polling(settings(port, 1, 2, transport="rtu-over-tcp")) as next_cycle:
        assert all(d.ok for d in (await next_cycle()).devices)
        await gateway.aclose()
        await down_until_deep(next_cycle, "unit1")
        gateway = await SimulatedSlave.tcp({1: image(1), 2: image(2)}, port=port, framer="rtu")
        try:
            assert await cycles_until_back(next_cycle, ["unit1", "unit2"], limit=12) <= 2
        finally:
            await gateway.aclose()
