"""Modbus RTU and ASCII over a pseudo-terminal pair: several unit ids on one line, one queue."""

from __future__ import annotations

import asyncio

import pytest
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer

from sensorpoll.drivers.modbus.compat import ImageContext
from sensorpoll.drivers.modbus.wire import silence

from .conftest import device, image

pytestmark = pytest.mark.asyncio


def rtu(name: str, port: str, unit: int, **overrides):
    settings = {"transport": "rtu", "host": None, "baudrate": 115200, **overrides}
    return device(name=name, port=port, unit_id=unit, **settings)


async def test_reads_several_units_on_one_rtu_line(pty_link, rtu_slave, open_driver):
    await rtu_slave({1: image({0: 101}), 2: image({0: 202}), 3: image({0: 303})}, baudrate=115200)
    polled = [open_driver(rtu(f"d{u}", pty_link.ends[0], u)) for u in (1, 2, 3)]
    results = await asyncio.gather(*(p.poll() for p in polled))
    assert [r.values for r in results] == [{"value": 101}, {"value": 202}, {"value": 303}]


async def test_devices_on_one_port_share_one_connection(pty_link, rtu_slave, open_driver):
    await rtu_slave({1: image({0: 1}), 2: image({0: 2})}, baudrate=115200)
    one = open_driver(rtu("one", pty_link.ends[0], 1))
    two = open_driver(rtu("two", pty_link.ends[0], 2))
    await asyncio.gather(one.poll(), two.poll(), one.poll(), two.poll())
    assert one.driver.line is two.driver.line
    assert one.driver.line.opened == 1


async def test_absent_unit_times_out_while_its_neighbour_answers(pty_link, rtu_slave, open_driver):
    await rtu_slave({1: image({0: 1})}, baudrate=115200)
    here = open_driver(rtu("here", pty_link.ends[0], 1))
    absent = open_driver(rtu("absent", pty_link.ends[0], 9), deadline=0.2)
    missing = await absent.poll()
    present = await here.poll()
    assert (missing.ok, missing.error) == (False, "timeout")
    assert present.values == {"value": 1}


async def test_requests_on_a_serial_line_are_separated_by_the_rtu_silence(
    pty_link, rtu_slave, open_driver
):
    await rtu_slave({1: image({0: 1, 100: 2})}, baudrate=9600)
    polled = open_driver(
        rtu(
            "two_requests",
            pty_link.ends[0],
            1,
            baudrate=9600,
            fields=[{"name": "a", "address": 0}, {"name": "b", "address": 100}],
        )
    )
    pty_link.trace = []
    assert (await polled.poll()).ok
    requests = [t for t, end, _ in pty_link.trace if end == 0]
    answers = [t for t, end, _ in pty_link.trace if end == 1]
    assert len(requests) == 2
    assert requests[1] - answers[0] >= silence(9600)


async def test_reads_over_modbus_ascii(pty_link, rtu_slave, open_driver):
    await rtu_slave({5: image({10: 0x4142})}, framer="ascii", baudrate=115200)
    polled = open_driver(
        device(
            transport="ascii",
            host=None,
            port=pty_link.ends[0],
            unit_id=5,
            baudrate=115200,
            fields=[{"name": "s", "address": 10, "type": "string", "count": 1}],
        )
    )
    assert (await polled.poll()).values == {"s": "AB"}


async def test_line_noise_costs_at_most_one_read_and_never_a_wrong_value(
    pty_link, rtu_slave, open_driver
):
    await rtu_slave({1: image({0: 4321})}, baudrate=115200)
    polled = open_driver(rtu("noisy", pty_link.ends[0], 1), deadline=0.3)
    assert (await polled.poll()).ok
    pty_link.inject(0, b"\x01\x03\xff\x00\x12garbage\x00")
    noisy = await polled.poll()
    assert noisy.values in ({}, {"value": 4321})
    assert noisy.ok or noisy.error in ("timeout", "protocol")
    after = await polled.poll()
    assert (after.ok, after.values) == (True, {"value": 4321})


@pytest.fixture
async def noisy_slave(pty_link):
    """A pymodbus RTU server whose answers arrive with their CRC broken while `corrupt` is set."""
    corrupt = {"on": True}

    def tamper(sending: bool, frame: bytes) -> bytes:
        if sending and corrupt["on"]:
            return frame[:-1] + bytes([frame[-1] ^ 0xFF])
        return frame

    server = ModbusSerialServer(
        ImageContext({1: image({0: 42})}),
        framer=FramerType.RTU,
        port=pty_link.ends[1],
        baudrate=115200,
        trace_packet=tamper,
        ignore_missing_devices=True,
    )
    await server.serve_forever(background=True)
    yield corrupt
    await server.shutdown()
    await asyncio.sleep(0)


async def test_an_answer_with_a_broken_crc_is_reported_as_crc(noisy_slave, pty_link, open_driver):
    polled = open_driver(rtu("noisy", pty_link.ends[0], 1))
    result = await polled.poll()
    assert (result.ok, result.error, result.values) == (False, "crc", {})


async def test_the_read_after_a_broken_crc_gets_the_value(noisy_slave, pty_link, open_driver):
    polled = open_driver(rtu("noisy", pty_link.ends[0], 1))
    await polled.poll()
    noisy_slave["on"] = False
    assert (await polled.poll()).values == {"value": 42}
