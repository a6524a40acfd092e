"""Field features against a real pymodbus slave: register bits, packed bit fields, invalid
and out-of-range values, NaN, SunSpec-style scale factor registers."""

from __future__ import annotations

import math

import pytest

from sensorpoll.drivers.modbus.codec import encode

from .conftest import device
from .counting import counting

pytestmark = pytest.mark.asyncio


async def poll_fields(tcp_slave, open_driver, unit, fields):  # type: ignore[no-untyped-def]
    slave = await tcp_slave({1: unit})
    polled = open_driver(device(port=slave.port, fields=fields))
    return await polled.poll()


async def test_bit_fields_of_one_register_read_its_bits_in_one_request(tcp_slave, open_driver):
    unit = counting({10: 0b0000_0000_0101_1001})
    result = await poll_fields(
        tcp_slave,
        open_driver,
        unit,
        [
            {"name": "running", "address": 10, "type": "bool", "bit": 0},
            {"name": "alarm", "address": 10, "type": "bool", "bit": 1},
            {"name": "mode", "address": 10, "type": "uint16", "bits": [4, 3]},
            {"name": "remote", "address": 10, "type": "bool", "bit": 15},
        ],
    )
    assert result.values == {"running": True, "alarm": False, "mode": 5, "remote": False}
    assert unit.requests == [("holding", 10, 1)]


async def test_bit_15_is_the_most_significant_bit(tcp_slave, open_driver):
    result = await poll_fields(
        tcp_slave,
        open_driver,
        counting(input={3: 0x8000}),
        [{"name": "sign", "table": "input", "address": 3, "type": "bool", "bit": 15}],
    )
    assert result.values == {"sign": True}


async def test_an_invalid_raw_value_gives_no_value_and_the_device_stays_up(tcp_slave, open_driver):
    result = await poll_fields(
        tcp_slave,
        open_driver,
        counting({0: 0x8000, 1: 215}),
        [
            {"name": "flow", "address": 0, "type": "int16", "invalid": [0x8000], "scale": 0.1},
            {"name": "temperature", "address": 1, "type": "int16", "scale": 0.1},
        ],
    )
    assert result.ok, result.detail
    assert result.values == {"flow": None, "temperature": pytest.approx(21.5)}
    assert result.invalid == ("flow",)


async def test_invalid_compares_the_raw_value_before_scale(tcp_slave, open_driver):
    result = await poll_fields(
        tcp_slave,
        open_driver,
        counting({0: 0xFFFF}),
        [{"name": "level", "address": 0, "invalid": [65535], "scale": 0.01}],
    )
    assert result.values == {"level": None}


async def test_a_value_outside_valid_gives_no_value(tcp_slave, open_driver):
    regs = encode(612.0, "float32", "CDAB") + encode(230.5, "float32", "CDAB")
    fields = [
        {"name": f"v{i}", "address": 2 * i, "type": "float32", "byte_order": "CDAB",
         "valid": {"min": 0, "max": 500}}
        for i in range(2)
    ]  # fmt: skip
    result = await poll_fields(tcp_slave, open_driver, counting(dict(enumerate(regs))), fields)
    assert result.values == {"v0": None, "v1": 230.5}
    assert result.invalid == ("v0",)


async def test_valid_applies_after_scale_and_offset(tcp_slave, open_driver):
    result = await poll_fields(
        tcp_slave,
        open_driver,
        counting({0: 600}),
        [{"name": "t", "address": 0, "scale": 0.1, "offset": -10, "valid": {"max": 50}}],
    )
    assert result.values == {"t": pytest.approx(50.0)}


async def test_nan_and_infinity_from_float_registers_give_no_value(tcp_slave, open_driver):
    regs = encode(math.nan, "float32") + encode(math.inf, "float32") + encode(1.5, "float32")
    fields = [{"name": n, "address": 2 * i, "type": "float32"} for i, n in enumerate("abc")]
    result = await poll_fields(tcp_slave, open_driver, counting(dict(enumerate(regs))), fields)
    assert result.ok
    assert result.values == {"a": None, "b": None, "c": 1.5}
    assert result.invalid == ("a", "b")


async def test_a_scale_factor_register_scales_by_a_power_of_ten(tcp_slave, open_driver):
    unit = counting({40083: 1234, 40084: 0xFFFF})  # 1234 x 10^-1
    result = await poll_fields(
        tcp_slave,
        open_driver,
        unit,
        [
            {"name": "ac_power", "address": 40083, "type": "int16",
             "scale_factor": {"table": "holding", "address": 40084}},
        ],
    )  # fmt: skip
    assert result.values == {"ac_power": pytest.approx(123.4)}
    assert unit.requests == [("holding", 40083, 2)]  # the factor in the same request


async def test_a_scale_factor_applies_before_scale_and_offset(tcp_slave, open_driver):
    unit = counting({0: 5, 20: 2})  # 5 x 10^2 x 0.5 + 1
    result = await poll_fields(
        tcp_slave,
        open_driver,
        unit,
        [{"name": "p", "address": 0, "scale": 0.5, "offset": 1,
          "scale_factor": {"address": 20}}],
    )  # fmt: skip
    assert result.values == {"p": pytest.approx(251.0)}


async def test_a_scale_factor_of_minus_32768_means_not_implemented(tcp_slave, open_driver):
    result = await poll_fields(
        tcp_slave,
        open_driver,
        counting({0: 5, 1: 0x8000}),
        [{"name": "p", "address": 0, "scale_factor": {"address": 1}}],
    )
    assert (result.ok, result.values) == (True, {"p": None})


async def test_fields_sharing_one_scale_factor_read_it_once(tcp_slave, open_driver):
    unit = counting({0: 1, 1: 2, 2: 3, 3: 1})
    sf = {"address": 3}
    result = await poll_fields(
        tcp_slave,
        open_driver,
        unit,
        [
            {"name": "l1", "address": 0, "scale_factor": sf},
            {"name": "l2", "address": 1, "scale_factor": sf},
            {"name": "l3", "address": 2, "scale_factor": sf},
        ],
    )
    assert result.values == {"l1": 10, "l2": 20, "l3": 30}
    assert unit.requests == [("holding", 0, 4)]
