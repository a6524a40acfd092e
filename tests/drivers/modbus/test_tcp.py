"""Modbus TCP, UDP and RTU-over-TCP against real pymodbus slaves on loopback."""

from __future__ import annotations

import pytest

from sensorpoll.drivers.modbus.codec import encode

from .conftest import device, float_image, image

pytestmark = pytest.mark.asyncio


async def test_reads_a_float_over_tcp(tcp_slave, open_driver):
    slave = await tcp_slave({1: float_image(12.5, address=100)})
    polled = open_driver(
        device(
            port=slave.port,
            fields=[{"name": "t", "address": 100, "type": "float32", "unit": "celsius"}],
        )
    )
    result = await polled.poll()
    assert result.ok, result.detail
    assert result.values == {"t": 12.5}


async def test_reads_every_table_in_one_cycle(tcp_slave, open_driver):
    unit = image({0: 7}, input={3: 0xFFFF}, coil={5: True}, discrete={9: False})
    slave = await tcp_slave({1: unit})
    polled = open_driver(
        device(
            port=slave.port,
            fields=[
                {"name": "h", "table": "holding", "address": 0},
                {"name": "i", "table": "input", "address": 3, "type": "int16"},
                {"name": "c", "table": "coil", "address": 5},
                {"name": "d", "table": "discrete", "address": 9},
            ],
        )
    )
    result = await polled.poll()
    assert result.values == {"h": 7, "i": -1, "c": True, "d": False}


async def test_scale_and_offset_apply_to_the_raw_value(tcp_slave, open_driver):
    slave = await tcp_slave({1: image({0: 250})})
    polled = open_driver(
        device(
            port=slave.port,
            fields=[{"name": "t", "address": 0, "type": "int16", "scale": 0.1, "offset": -5}],
        )
    )
    assert (await polled.poll()).values == {"t": pytest.approx(20.0)}


async def test_devices_with_different_unit_ids_on_one_tcp_slave(tcp_slave, open_driver):
    slave = await tcp_slave({1: image({0: 11}), 2: image({0: 22})})
    one = open_driver(device(name="one", port=slave.port, unit_id=1))
    two = open_driver(device(name="two", port=slave.port, unit_id=2))
    assert (await one.poll()).values == {"value": 11}
    assert (await two.poll()).values == {"value": 22}


async def test_exception_response_is_reported_with_its_code(tcp_slave, open_driver):
    slave = await tcp_slave({1: image({0: 1})})
    polled = open_driver(device(port=slave.port, fields=[{"name": "x", "address": 40}]))
    result = await polled.poll()
    assert not result.ok
    assert result.error == "modbus_exception:2"
    assert result.values == {}


async def test_exception_response_keeps_the_connection(tcp_slave, open_driver):
    slave = await tcp_slave({1: image({0: 1})})
    polled = open_driver(device(port=slave.port, fields=[{"name": "x", "address": 40}]))
    await polled.poll()
    await polled.poll()
    assert polled.driver.line.opened == 1


async def test_refused_connection_is_reported_as_connection(unused_tcp_port, open_driver):
    polled = open_driver(device(port=unused_tcp_port))
    result = await polled.poll()
    assert (result.ok, result.error) == (False, "connection")


async def test_reads_over_udp(open_driver):
    from sensorpoll.drivers.modbus.server import SimulatedSlave

    slave = await SimulatedSlave.udp({1: image({4: 99})})
    try:
        polled = open_driver(
            device(transport="udp", port=slave.port, fields=[{"name": "v", "address": 4}])
        )
        assert (await polled.poll()).values == {"v": 99}
    finally:
        await slave.aclose()


async def test_rtu_over_tcp_gateway_serves_several_units_on_one_connection(tcp_slave, open_driver):
    slave = await tcp_slave({3: image({0: 33}), 4: image({0: 44})}, framer="rtu")
    three = open_driver(device(name="three", transport="rtu-over-tcp", port=slave.port, unit_id=3))
    four = open_driver(device(name="four", transport="rtu-over-tcp", port=slave.port, unit_id=4))
    assert (await three.poll()).values == {"value": 33}
    assert (await four.poll()).values == {"value": 44}
    assert three.driver.line is four.driver.line
    assert three.driver.line.opened == 1


async def test_a_64_bit_value_in_word_swapped_order(tcp_slave, open_driver):
    regs = encode(-123456789012, "int64", "CDAB")
    slave = await tcp_slave({1: image(dict(enumerate(regs)))})
    polled = open_driver(
        device(
            port=slave.port,
            fields=[{"name": "n", "type": "int64", "byte_order": "GHEFCDAB", "address": 0}],
        )
    )
    assert (await polled.poll()).values == {"n": -123456789012}
