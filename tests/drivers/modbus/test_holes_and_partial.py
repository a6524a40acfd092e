"""Reads that survive a device's register map and a slow line: a merged request refused for a
hole is split (once, remembered, logged once); a deadline that runs out part-way keeps what
was read."""

from __future__ import annotations

import logging

import pytest

from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.drivers.modbus import ModbusDriver
from sensorpoll.drivers.modbus.server import SimulatedSlave
from sensorpoll.drivers.pty import PtyLink

from .conftest import device
from .counting import counting

pytestmark = pytest.mark.asyncio

# registers 0 and 5 exist, 1-4 do not: a read of 0-5 gets exception 2 (illegal data address)
HOLEY = {0: 10, 5: 50, 6: 60}
FIELDS = [{"name": "a", "address": 0}, {"name": "b", "address": 5}, {"name": "c", "address": 6}]


async def test_a_slave_with_a_hole_is_read_completely_after_the_split(tcp_slave, open_driver):
    slave = await tcp_slave({1: counting(HOLEY)})
    polled = open_driver(device(port=slave.port, fields=FIELDS))
    result = await polled.poll()
    assert (result.ok, result.error) == (True, None), result.detail
    assert result.values == {"a": 10, "b": 50, "c": 60}


async def test_the_split_is_remembered_for_the_device(tcp_slave, open_driver):
    unit = counting(HOLEY)
    slave = await tcp_slave({1: unit})
    polled = open_driver(device(port=slave.port, fields=FIELDS))
    await polled.poll()
    assert unit.requests == [("holding", 0, 7), ("holding", 0, 1), ("holding", 5, 1),
                             ("holding", 6, 1)]  # fmt: skip
    unit.requests.clear()
    await polled.poll()
    assert unit.requests == [("holding", 0, 1), ("holding", 5, 1), ("holding", 6, 1)]


async def test_a_hole_that_appears_later_costs_one_read_then_the_request_is_split(
    tcp_slave, open_driver
):
    unit = counting({0: 10, 1: 11, 2: 12, 3: 13, 4: 14, 5: 50, 6: 60})
    slave = await tcp_slave({1: unit})
    polled = open_driver(device(port=slave.port, fields=FIELDS))
    assert (await polled.poll()).ok
    assert ((await polled.poll()).ok, polled.begun) == (True, 1)  # the merged request, begun
    for address in (1, 2, 3, 4):  # the device's map changes (a firmware update, say)
        del unit.tables["holding"][address]
    refused = await polled.poll()
    assert (refused.ok, refused.error) == (False, "modbus_exception:2")
    unit.requests.clear()
    result = await polled.poll()
    assert (result.ok, result.values) == (True, {"a": 10, "b": 50, "c": 60})
    assert unit.requests == [("holding", 0, 7), ("holding", 0, 1), ("holding", 5, 1),
                             ("holding", 6, 1)]  # fmt: skip


async def test_the_split_is_logged_once(tcp_slave, open_driver, caplog):
    slave = await tcp_slave({1: counting(HOLEY)})
    polled = open_driver(device(name="meter", port=slave.port, fields=FIELDS))
    with caplog.at_level(logging.INFO, logger="sensorpoll"):
        for _ in range(3):
            await polled.poll()
    splits = [r for r in caplog.records if "exception 2" in r.getMessage()]
    assert len(splits) == 1
    assert "meter" in splits[0].getMessage()
    assert splits[0].levelno == logging.INFO


async def test_a_field_whose_own_address_is_refused_still_fails_the_read(tcp_slave, open_driver):
    slave = await tcp_slave({1: counting({0: 1})})
    polled = open_driver(device(port=slave.port, fields=[{"name": "x", "address": 3}]))
    result = await polled.poll()
    assert (result.ok, result.error) == (False, "modbus_exception:2")


async def test_other_exceptions_do_not_split_the_request(tcp_slave, open_driver):
    from tests.fakes.modbus_tcp import MisbehavingSlave

    fake = await MisbehavingSlave().start()
    try:
        fake.behaviour = "exception"  # 6, device busy
        polled = open_driver(device(port=fake.port, fields=FIELDS))
        result = await polled.poll()
        assert result.error == "modbus_exception:6"
        fake.behaviour = "good"
        fake.requests_at.clear()
        assert (await polled.poll()).ok
        assert len(fake.requests_at) == 1  # still one merged request
    finally:
        await fake.aclose()


# At 1200 baud a 1-register answer takes ~0.1 s on the paced line, a 120-register one ~2.3 s:
# a 1 s deadline ends the read after the first request and well before the second.
SLOW_BAUD = 1200


async def test_a_deadline_that_runs_out_part_way_keeps_the_fields_read(buses):
    link = await PtyLink(baudrate=SLOW_BAUD).start()
    unit = counting({0: 7, **{100 + i: i for i in range(120)}})
    slave = await SimulatedSlave.serial({1: unit}, link.ends[1], baudrate=SLOW_BAUD)
    config = device(
        transport="rtu", host=None, port=link.ends[0], baudrate=SLOW_BAUD,
        fields=[{"name": "quick", "address": 0},
                {"name": "bulk", "address": 100, "type": "string", "count": 120}],
    )  # fmt: skip
    poller = DevicePoller(ModbusDriver(config, buses), 1.0, 5.0)  # type: ignore[arg-type]
    try:
        (result,) = (await poll_cycle([poller], 1)).devices
    finally:
        await slave.aclose()
        await link.aclose()
    assert (result.ok, result.error, result.partial) == (False, "timeout", True)
    assert result.values == {"quick": 7, "bulk": None}
