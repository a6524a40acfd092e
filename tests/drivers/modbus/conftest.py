"""Helpers for the Modbus tests: device configs, real pymodbus slaves, one poll through the
real poll loop (`DevicePoller`), so results carry the reason the cycle would show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from sensorpoll.daemon.cycle import DeviceResult
from sensorpoll.daemon.poller import DevicePoller
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.modbus import ModbusDriver
from sensorpoll.drivers.modbus.codec import encode
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from sensorpoll.drivers.pty import PtyLink


def device(**overrides: Any) -> ModbusConfig:
    data: dict[str, Any] = {
        "name": "dev",
        "driver": "modbus",
        "transport": "tcp",
        "host": "127.0.0.1",
        "port": 502,
        "unit_id": 1,
        "fields": [{"name": "value", "table": "holding", "address": 0, "type": "uint16"}],
    }
    data.update(overrides)
    return ModbusConfig.model_validate(data)


def image(holding: dict[int, int] | None = None, **tables: dict[int, Any]) -> UnitImage:
    unit = UnitImage()
    unit.tables["holding"].update(holding or {})
    for table, cells in tables.items():
        unit.tables[table].update(cells)
    return unit


def float_image(value: float, address: int = 0) -> UnitImage:
    regs = encode(value, "float32")
    return image({address: regs[0], address + 1: regs[1]})


class Polled:
    """A driver under the real poll loop's deadline and classification, read as the cycle
    reads it: begun as a future (`Driver.begin`) where the driver can, cancelled at the
    deadline; otherwise `DevicePoller.poll`. Unlike a cycle, no backoff: every poll reads."""

    def __init__(self, driver: ModbusDriver, deadline: float = 0.5) -> None:
        self.driver = driver
        self.deadline = deadline
        self.poller = DevicePoller(driver, deadline, interval=1.0)  # type: ignore[arg-type]
        self.begun = 0  # reads that went the future's way

    async def poll(self) -> DeviceResult:
        loop = asyncio.get_running_loop()
        future = self.poller.begin(0, loop)
        if future is None:
            return await self.poller.poll()
        self.begun += 1
        timer = loop.call_later(self.deadline, self.poller.expire, future)
        try:
            await asyncio.wait([future])
        finally:
            timer.cancel()
        return self.poller.finish(future)


@pytest.fixture
async def buses() -> AsyncIterator[Buses]:
    buses = Buses()
    yield buses
    await buses.aclose()


@pytest.fixture
async def open_driver(
    buses: Buses,
) -> AsyncIterator[Callable[..., Polled]]:
    drivers: list[ModbusDriver] = []

    def make(config: ModbusConfig, deadline: float = 0.5) -> Polled:
        driver = ModbusDriver(config, buses)
        drivers.append(driver)
        return Polled(driver, deadline)

    yield make
    for driver in drivers:
        await driver.aclose()


@pytest.fixture
async def tcp_slave() -> AsyncIterator[Callable[..., Awaitable[SimulatedSlave]]]:
    slaves: list[SimulatedSlave] = []

    async def start(units: dict[int, UnitImage], **kwargs: Any) -> SimulatedSlave:
        slave = await SimulatedSlave.tcp(units, **kwargs)
        slaves.append(slave)
        return slave

    yield start
    for slave in slaves:
        await slave.aclose()


@pytest.fixture
async def pty_link() -> AsyncIterator[PtyLink]:
    link = await PtyLink().start()
    yield link
    await link.aclose()


@pytest.fixture
async def rtu_slave(
    pty_link: PtyLink,
) -> AsyncIterator[Callable[..., Awaitable[SimulatedSlave]]]:
    """Start a pymodbus RTU server on one end of a pty link; devices use `pty_link.ends[0]`."""
    slaves: list[SimulatedSlave] = []

    async def start(units: dict[int, UnitImage], **kwargs: Any) -> SimulatedSlave:
        slave = await SimulatedSlave.serial(units, pty_link.ends[1], **kwargs)
        slaves.append(slave)
        return slave

    yield start
    for slave in slaves:
        await slave.aclose()
