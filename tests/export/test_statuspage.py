"""The status page's parts: units as people write them, the bounded trend buffer, paging."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.sinkmetrics import SinkStats
from sensorpoll.export.statuspage import PAGE_SIZE, format_number, status_page_parts
from sensorpoll.export.trends import POINTS, WINDOW, Trends
from sensorpoll.export.unitsymbols import display_unit
from tests.export.helpers import settings_from


def render(*args: Any, **kwargs: Any) -> str:
    """The whole page, as the server sends it piece by piece."""
    return "".join(status_page_parts(*args, **kwargs))


@pytest.mark.parametrize(
    ("unit", "shown"),
    [
        ("celsius", "°C"),
        ("kelvin", "K"),
        ("pascals", "Pa"),
        ("hectopascals", "hPa"),
        ("millibars", "mbar"),
        ("watts", "W"),
        ("kilowatt_hours", "kWh"),
        ("volts", "V"),
        ("milliamperes", "mA"),
        ("percent", "%"),
        ("liters_per_minute", "L/min"),
        ("cubic_meters_per_hour", "m³/h"),
        ("meters_per_second", "m/s"),
        ("microsiemens_per_centimeter", "µS/cm"),
        ("hertz", "Hz"),
        ("ohms", "Ω"),
        ("ratio", ""),
    ],
)
def test_units_are_shown_as_people_write_them(unit: str, shown: str) -> None:
    assert display_unit(unit) == shown


def test_a_unit_it_does_not_know_is_shown_as_written() -> None:
    assert display_unit("furlongs_per_fortnight") == "furlongs per fortnight"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(12.5, "12.5"), (0.1, "0.1"), (183402.72, "183402.72"), (2.0, "2"), (1e-7, "1e-07"), (7, "7")],
)
def test_numbers_have_six_significant_digits_and_no_needless_exponent(
    value: float, shown: str
) -> None:
    assert format_number(value) == shown


CONFIG = """\
interval: 1s
devices:
  - name: pump
    driver: simulated
    fields: [{name: flow, unit: liters_per_minute, value: 1}, {name: on, value: true}]
"""


def pump_cycle(i: int, ok: bool = True) -> Cycle:
    values = {"flow": float(i), "on": True} if ok else {}
    result = DeviceResult("pump", ok, None if ok else "timeout", 0.01, values)
    return Cycle(i, 1_800_000_000.0 + i, float(i), 0.01, (result,))


def test_the_trend_buffer_keeps_a_fixed_number_of_points_however_long_it_runs() -> None:
    trends = Trends(settings_from(CONFIG))
    trends.observe(pump_cycle(1))
    size = len(trends.devices["pump"].values)
    for i in range(2, 5000):
        trends.observe(pump_cycle(i))
    assert len(trends.devices["pump"].values) == size == POINTS  # one number field
    series = trends.series("pump", "flow")
    assert series is not None
    assert POINTS - 1 <= len(series.points) <= POINTS


def test_the_trend_spans_the_last_ten_minutes_oldest_first() -> None:
    trends = Trends(settings_from(CONFIG))
    for i in range(1, 2000):
        trends.observe(pump_cycle(i))
    series = trends.series("pump", "flow")
    assert series is not None
    ages = [age for age, _ in series.points]
    assert ages == sorted(ages, reverse=True)
    assert max(ages) < WINDOW
    assert min(series.values) >= 1999 - WINDOW  # nothing older than the window


def test_booleans_have_no_trend_and_a_down_device_leaves_a_gap() -> None:
    trends = Trends(settings_from(CONFIG))
    for i in range(1, 601):
        trends.observe(pump_cycle(i, ok=not 200 <= i < 300))
    assert trends.series("pump", "on") is None
    series = trends.series("pump", "flow")
    assert series is not None
    assert not any(200 <= value < 300 for value in series.values)


def many_devices(count: int) -> str:
    lines = ["interval: 1s", "devices:"]
    lines += [
        f"  - {{name: d{i:03d}, driver: simulated, fields: [{{name: t, value: 1}}]}}"
        for i in range(count)
    ]
    return "\n".join(lines) + "\n"


def test_many_devices_are_paged_and_the_down_ones_linked_from_every_page() -> None:
    settings = settings_from(many_devices(60))
    results = tuple(
        DeviceResult(f"d{i:03d}", i != 55, None if i != 55 else "crc", 0.01, {"t": 1})
        for i in range(60)
    )
    cycle = Cycle(1, 1_800_000_000.0, 1.0, 0.01, results)
    trends, history = Trends(settings), DaemonHistory(settings)
    history.observe(cycle)
    first = render(cycle, settings, history, trends, 1_800_000_001.0)
    third = render(cycle, settings, history, trends, 1_800_000_001.0, page=3)
    assert re.findall(r'data-device="(d\d+)"', first) == [f"d{i:03d}" for i in range(PAGE_SIZE)]
    assert re.findall(r'data-device="(d\d+)"', third) == [f"d{i:03d}" for i in range(50, 60)]
    assert '<a href="?page=3#device-d055">d055</a>' in first
    assert '<a href="?page=2">next ›</a>' in first
    assert "page 3 of 3" in third


def test_before_the_first_cycle_the_page_says_so() -> None:
    settings = settings_from(CONFIG)
    page = render(None, settings, DaemonHistory(settings), Trends(settings), 0.0)
    assert "No cycle has completed yet." in page


def test_each_sink_shows_its_health_in_the_summary() -> None:
    settings = settings_from(CONFIG)
    history, trends = DaemonHistory(settings), Trends(settings)
    cycle = pump_cycle(1)
    history.observe(cycle)
    broker = SinkStats("mqtt://broker:1883/lab/{device}", 10, 35, lambda: 120, connected=False)
    log = SinkStats("jsonl:/var/lib/sensorpoll/r.jsonl", 1, 0)
    page = render(cycle, settings, history, trends, 0.0, sinks=[broker, log])
    lines = re.findall(r'<p class="summary sink">(.*?)</p>', page)
    assert [re.sub(r"<[^>]+>", "", line) for line in lines] == [
        "mqtt://broker:1883/lab/{device}: reconnecting, 120 queued, 35 dropped",
        "jsonl:/var/lib/sensorpoll/r.jsonl: 0 dropped",
    ]
