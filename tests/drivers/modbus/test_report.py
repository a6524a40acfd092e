"""The wire model behind `sensorpoll check`'s serial bus estimate, and its 80% warning."""

from __future__ import annotations

import pytest

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import ReportWarning
from sensorpoll.drivers.modbus.report import check_report
from sensorpoll.drivers.modbus.wire import request_time, silence

from .conftest import device


def test_silence_is_three_and_a_half_11_bit_characters_up_to_19200_baud():
    assert silence(9600) == pytest.approx(3.5 * 11 / 9600)
    assert silence(19200) == pytest.approx(3.5 * 11 / 19200)


def test_silence_is_fixed_at_1_75_ms_above_19200_baud():
    assert silence(38400) == silence(115200) == pytest.approx(0.00175)


def test_request_time_follows_the_wire_model():
    # (8 + 5 + 2N) x 11 / baud + 2 x t3.5 + turnaround
    expected = (8 + 5 + 2 * 10) * 11 / 19200 + 2 * silence(19200) + 0.004
    assert request_time(10, 19200, turnaround=0.004) == pytest.approx(expected)


def serial_devices(count: int):
    return [
        device(
            name=f"d{i}",
            transport="rtu",
            host=None,
            port="/dev/ttyUSB0",
            baudrate=9600,
            unit_id=i + 1,
            fields=[{"name": "v", "address": 0, "type": "string", "count": 50}],
        )
        for i in range(count)
    ]


def report(devices, interval: float) -> list[str]:
    settings = Settings(interval=interval, devices=tuple(devices))
    return check_report(devices, settings)


def test_bus_below_80_percent_of_the_interval_gets_no_warning():
    lines = report(serial_devices(2), interval=1.0)  # ~2 x 130 ms
    assert not [line for line in lines if isinstance(line, ReportWarning)]


def test_bus_above_80_percent_of_the_interval_is_a_warning():
    lines = report(serial_devices(7), interval=1.0)  # ~7 x 130 ms
    warnings = [line for line in lines if isinstance(line, ReportWarning)]
    assert len(warnings) == 1
    assert "/dev/ttyUSB0" in warnings[0]


def test_report_lists_each_request_of_each_device():
    lines = report(serial_devices(2), interval=1.0)
    assert "    holding 0-49 (50): v" in lines
    assert sum(line.startswith("  d") for line in lines) == 2
