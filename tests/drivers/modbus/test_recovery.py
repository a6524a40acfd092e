"""Recovery: slaves that restart, and dead devices sharing a line with live ones."""

from __future__ import annotations

import pytest

from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.drivers.modbus.server import SimulatedSlave

from .conftest import device, image

pytestmark = pytest.mark.asyncio


async def test_slave_restart_is_recovered_within_two_cycles(open_driver):
    slave = await SimulatedSlave.tcp({1: image({0: 5})})
    port = slave.port
    polled = open_driver(device(port=port), deadline=0.3)
    assert (await polled.poll()).ok
    await slave.aclose()
    assert not (await polled.poll()).ok
    slave = await SimulatedSlave.tcp({1: image({0: 6})}, port=port)
    try:
        results = [await polled.poll() for _ in range(2)]
    finally:
        await slave.aclose()
    assert any(r.ok and r.values == {"value": 6} for r in results)


async def test_dead_unit_does_not_stop_its_bus_neighbours(pty_link, rtu_slave, open_driver):
    await rtu_slave({1: image({0: 1}), 2: image({0: 2})}, baudrate=115200)
    line = {
        "transport": "rtu",
        "host": None,
        "port": pty_link.ends[0],
        "baudrate": 115200,
        "response_timeout": "50ms",
    }
    names = {1: "one", 2: "two", 7: "dead"}
    drivers = [open_driver(device(name=names[u], unit_id=u, **line)).driver for u in (1, 7, 2)]
    pollers = [DevicePoller(d, 0.3, interval=0.4) for d in drivers]
    for number in range(1, 6):
        cycle = await poll_cycle(pollers, number)
        one, dead, two = cycle.devices
        assert (one.ok, one.values) == (True, {"value": 1})
        assert (two.ok, two.values) == (True, {"value": 2})
        assert (dead.ok, dead.values) == (False, {})
