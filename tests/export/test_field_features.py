"""Field features end to end: a real pymodbus slave read through the real poll loop, its cycle
exported, and the exposition read back by promtool and prometheus_client's parsers; carried,
invalid and partial values in the cycle JSON, the metrics and the jsonl sink."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.config import Settings
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.daemon.devices import Devices
from sensorpoll.drivers.modbus.codec import encode
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from sensorpoll.export.cyclejson import cycle_to_dict
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import Exposition, render_exposition
from sensorpoll.export.jsonl import JsonlSink
from sensorpoll.export.readings import ReadingPlan
from tests.conftest import require_tool
from tests.export.helpers import settings_from

METER = """
interval: 1s
metrics: {{namespace: lab}}
devices:
  - name: meter
    driver: modbus
    host: 127.0.0.1
    port: {port}
    labels: {{room: b12}}
    fields:
      - {{name: energy, address: 0, type: uint32, metric: counter, unit: joules, scale: 3600,
          help: "Active energy imported"}}
      - {{name: voltage, address: 2, type: float32, byte_order: CDAB, unit: volts,
          invalid: [0xFFFFFFFF], valid: {{min: 0, max: 500}}}}
      - {{name: running, address: 10, type: bool, bit: 0}}
      - {{name: mode, address: 10, type: uint16, bits: [4, 3]}}
      - {{name: ac_power, address: 20, type: int16, unit: watts,
          scale_factor: {{table: holding, address: 21}}}}
      - {{name: frequency, address: 22, type: int16, unit: hertz, invalid: [0x8000]}}
      - {{name: starts, address: 30, type: uint16, metric: counter}}
"""


def meter_image() -> UnitImage:
    unit = UnitImage()
    unit.set("holding", 0, encode(1000, "uint32"))
    unit.set("holding", 2, encode(230.5, "float32", "CDAB"))
    unit.set("holding", 10, [0b0101_0001])
    unit.set("holding", 20, [1234, 0xFFFF])  # 1234 x 10^-1
    unit.set("holding", 22, [0x8000])  # "not available"
    unit.set("holding", 30, [17])
    return unit


async def read_meter() -> tuple[Settings, Cycle]:
    slave = await SimulatedSlave.tcp({1: meter_image()})
    settings = settings_from(METER.format(port=slave.port))
    poller = Devices(settings)
    try:
        await poller.open()
        cycle = await poller.cycle()
    finally:
        await poller.aclose()
        await slave.aclose()
    return settings, cycle


@pytest.fixture
def meter() -> tuple[Settings, Cycle]:
    """The meter's config, and one cycle read from a real slave serving its registers."""
    return asyncio.run(read_meter())


def render(settings: Settings, *cycles: Cycle) -> Exposition:
    plan, history = ReadingPlan(settings), DaemonHistory(settings)
    exposition = None
    for cycle in cycles:
        history.observe(cycle)
        exposition = render_exposition(cycle, plan, history)
    assert exposition is not None
    return exposition


def text_samples(exposition: Exposition) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in parse_text(exposition.text.decode())
        for s in family.samples
    }


METER_LABELS = frozenset({"device": "meter", "room": "b12"}.items())


def meter_value(exposition: Exposition, name: str) -> float | None:
    return text_samples(exposition).get((name, METER_LABELS))


def test_every_field_feature_decodes_as_the_device_means_it(meter) -> None:
    _, cycle = meter
    (result,) = cycle.devices
    assert result.ok, result.detail
    assert result.values == {
        "energy": 3_600_000, "voltage": 230.5, "running": True, "mode": 5,
        "ac_power": pytest.approx(123.4), "frequency": None, "starts": 17,
    }  # fmt: skip


def test_a_counter_field_exports_as_a_counter_family_with_its_help(meter) -> None:
    settings, cycle = meter
    exposition = render(settings, cycle)
    families = {f.name: f for f in parse_text(exposition.text.decode())}
    energy = families["lab_energy_joules"]
    assert (energy.type, energy.documentation) == ("counter", "Active energy imported")
    assert [(s.name, s.value) for s in energy.samples] == [("lab_energy_joules_total", 3_600_000)]
    assert families["lab_starts"].samples[0].name == "lab_starts_total"
    om = {f.name: f for f in parse_openmetrics(exposition.body(openmetrics=True).decode())}
    assert om["lab_energy_joules"].type == "counter"
    assert om["lab_energy_joules"].samples[0].name == "lab_energy_joules_total"


def test_bits_and_scale_factors_export_their_decoded_values(meter) -> None:
    settings, cycle = meter
    exposition = render(settings, cycle)
    assert meter_value(exposition, "lab_running") == 1
    assert meter_value(exposition, "lab_mode") == 5
    assert meter_value(exposition, "lab_ac_power_watts") == pytest.approx(123.4)
    assert meter_value(exposition, "lab_voltage_volts") == 230.5


def test_a_field_with_an_invalid_value_has_no_series_and_is_counted(meter) -> None:
    settings, cycle = meter
    exposition = render(settings, cycle, cycle)
    assert "lab_frequency_hertz" not in {name for name, _ in text_samples(exposition)}
    labels = frozenset({"device": "meter", "field": "frequency"}.items())
    invalid = text_samples(exposition)[("sensorpoll_invalid_values_total", labels)]
    assert invalid == 2
    assert meter_value(exposition, "lab_energy_joules_total") == 3_600_000


def test_promtool_is_clean_on_every_field_feature(meter) -> None:
    promtool = require_tool("promtool")
    settings, cycle = meter
    body = render(settings, cycle).text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")


def test_a_null_value_is_null_in_the_cycle_json(meter) -> None:
    _, cycle = meter
    (device,) = cycle_to_dict(cycle)["devices"]
    assert device["values"]["frequency"] is None
    assert "carried" not in device
    assert "partial" not in device


RATES = """
interval: 1s
metrics: {namespace: lab}
devices:
  - name: pump
    driver: simulated
    fields:
      - {name: flow, value: 1.5, unit: litres}
      - {name: serial_no, value: "P-7"}
  - name: tank
    driver: simulated
    interval: 10s
    fields:
      - {name: level, value: 40}
"""
READ_AT = 1_800_000_000.5


def rates_cycle(number: int) -> Cycle:
    pump = DeviceResult(
        "pump", True, None, 0.01, {"flow": 1.5, "serial_no": "P-7"},
        carried={"serial_no": READ_AT},
    )  # fmt: skip
    tank = DeviceResult(
        "tank", True, None, 0.0, {"level": 40}, attempted=False, carried={"level": READ_AT}
    )
    return Cycle(number, 1_800_000_000.0 + number, 10.0 + number, 0.012, (pump, tank))


def partial_cycle(number: int) -> Cycle:
    result = DeviceResult(
        "pump", False, "timeout", 0.8, {"flow": 1.5, "serial_no": None},
        "no answer within 0.8s", partial=True,
    )  # fmt: skip
    tank = DeviceResult("tank", True, None, 0.01, {"level": 40})
    return Cycle(number, 1_800_000_000.0 + number, 10.0 + number, 0.9, (result, tank))


def test_carried_values_are_in_the_cycle_json_with_the_time_they_were_read() -> None:
    pump, tank = cycle_to_dict(rates_cycle(3))["devices"]
    assert pump["values"] == {"flow": 1.5, "serial_no": "P-7"}
    assert pump["carried"] == {"serial_no": "2027-01-15T08:00:00.500000Z"}
    assert tank["carried"] == {"level": "2027-01-15T08:00:00.500000Z"}


def test_carried_values_are_exported_to_prometheus_as_usual() -> None:
    exposition = render(settings_from(RATES), rates_cycle(3))
    samples = text_samples(exposition)
    assert samples[("lab_level", frozenset({("device", "tank")}))] == 40
    assert samples[("lab_serial_no_info", frozenset({("device", "pump"), ("serial_no", "P-7")}))]


def test_a_carried_device_keeps_its_last_success_time() -> None:
    settings = settings_from(RATES)
    fresh = Cycle(2, 1_800_000_002.0, 12.0, 0.01, (
        DeviceResult("pump", True, None, 0.01, {"flow": 1.5, "serial_no": "P-7"}),
        DeviceResult("tank", True, None, 0.02, {"level": 40}),
    ))  # fmt: skip
    exposition = render(settings, fresh, rates_cycle(3))
    last = text_samples(exposition)[
        ("sensorpoll_device_last_success_timestamp_seconds", frozenset({("device", "tank")}))
    ]
    assert last == pytest.approx(1_800_000_002.02)


async def test_the_jsonl_sink_logs_measurements_not_carried_copies(tmp_path: Path) -> None:
    path = tmp_path / "readings.jsonl"
    sink = JsonlSink(path)
    await sink.start()
    sink.publish(rates_cycle(3))
    await sink.aclose()
    (line,) = path.read_text().splitlines()
    devices = json.loads(line)["devices"]
    assert [d["device"] for d in devices] == ["pump"]  # tank was not read in this cycle
    assert devices[0]["values"] == {"flow": 1.5}
    assert "carried" not in devices[0]


def test_a_partial_read_exports_what_was_read_and_says_it_is_partial() -> None:
    exposition = render(settings_from(RATES), partial_cycle(1))
    samples = text_samples(exposition)
    pump = frozenset({("device", "pump")})
    assert samples[("lab_flow_litres", pump)] == 1.5
    assert not any(name == "lab_serial_no_info" for name, _ in samples)
    assert samples[("sensorpoll_device_up", pump)] == 0
    assert samples[("sensorpoll_device_partial_reads_total", pump)] == 1
    assert samples[("sensorpoll_device_errors_total", pump | {("reason", "timeout")})] == 1


def test_a_partial_read_in_the_cycle_json() -> None:
    pump, _ = cycle_to_dict(partial_cycle(1))["devices"]
    assert (pump["ok"], pump["error"], pump["partial"]) == (False, "timeout", True)
    assert pump["values"] == {"flow": 1.5, "serial_no": None}


def test_the_status_page_says_when_a_carried_value_was_read() -> None:
    from sensorpoll.export.statuspage import status_page_parts
    from sensorpoll.export.trends import Trends

    settings = settings_from(RATES)
    cycle = rates_cycle(3)
    history = DaemonHistory(settings)
    history.observe(cycle)
    page = "".join(status_page_parts(cycle, settings, history, Trends(settings), READ_AT + 12.0))
    assert 'title="carried: read 12.0 s ago"' in page
