"""float32 registers read as the decimal the device meant: the shortest that round-trips."""

from __future__ import annotations

import json
import struct

from hypothesis import given
from hypothesis import strategies as st

from sensorpoll.config import Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.drivers.modbus.codec import FieldLayout, compile_decoder, decode_raw, encode
from sensorpoll.drivers.modbus.float32 import shortest_float32
from sensorpoll.export.cyclejson import cycle_to_json
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import render_exposition
from sensorpoll.export.readings import ReadingPlan

from .conftest import device, image


def as_float32(value: float) -> float:
    widened: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return widened


def significant_digits(value: float) -> int:
    mantissa = repr(value).split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) or 1


def test_a_float32_decodes_to_its_shortest_decimal_on_every_decode_path() -> None:
    for value, expected in ((0.1, "0.1"), (229.18755, "229.18755"), (-1e-45, "-1e-45")):
        registers = encode(value, "float32", "CDAB")
        values: dict[str, object] = {}
        compile_decoder([FieldLayout("v", 0, "float32", "CDAB")], 2)(registers, values)
        scaled: dict[str, object] = {}
        compile_decoder([FieldLayout("v", 0, "float32", "CDAB", 10.0)], 2)(registers, scaled)
        assert repr(decode_raw(registers, "float32", "CDAB")) == expected
        assert repr(values["v"]) == expected
        assert scaled["v"] == float(expected) * 10.0


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_the_decimal_reads_back_as_the_same_float32_and_no_shorter_one_does(value: float) -> None:
    shortest = shortest_float32(value)
    assert struct.pack("<f", shortest) == struct.pack("<f", value)
    digits = significant_digits(shortest)
    if digits > 1:
        shorter = float(f"{value:.{digits - 1}g}")
        assert as_float32(shorter) != value or shorter == shortest


def test_float64_registers_are_left_as_they_are() -> None:
    value = as_float32(0.1)  # a float64 that happens to be a widened float32
    registers = encode(value, "float64")
    assert decode_raw(registers, "float64") == value


async def test_a_float32_reads_over_tcp_as_the_decimal_the_device_meant_in_json_and_metrics(
    tcp_slave, open_driver
) -> None:
    a, b = encode(0.1, "float32"), encode(229.18755, "float32")
    slave = await tcp_slave({1: image({0: a[0], 1: a[1], 2: b[0], 3: b[1]})})
    config = device(
        port=slave.port,
        fields=[
            {"name": "a", "address": 0, "type": "float32"},
            {"name": "b", "address": 2, "type": "float32"},
        ],
    )
    result = await open_driver(config).poll()
    assert result.ok, result.detail
    cycle = Cycle(1, 1_800_000_000.0, 0.0, 0.01, (result,))
    json_values = json.loads(cycle_to_json(cycle))["devices"][0]["values"]
    settings = Settings(devices=(config,))
    text = render_exposition(cycle, ReadingPlan(settings), DaemonHistory(settings)).text
    assert (repr(json_values["a"]), repr(json_values["b"])) == ("0.1", "229.18755")
    assert b'\nlab_a{device="dev"} 0.1\n' in text
    assert b'\nlab_b{device="dev"} 229.18755\n' in text
