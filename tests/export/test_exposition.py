"""The Prometheus exposition of a cycle: names, labels, kinds of value, sensorpoll's own metrics."""

from __future__ import annotations

import math
import subprocess

import aiohttp
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.config import Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import Exposition, render_exposition
from sensorpoll.export.processmetrics import ProcessMetrics
from sensorpoll.export.readings import ReadingPlan
from tests.conftest import require_tool
from tests.export.helpers import make_cycle, serving, settings_from

CONFIG = """
interval: 1s
metrics: {namespace: lab}
devices:
  - name: chiller
    driver: simulated
    labels: {room: b12, note: "quote \\" back \\\\ and\\nnewline"}
    fields:
      - {name: supply_temperature, unit: celsius, value: 12.5}
      - {name: pump_on, value: true}
      - {name: model, value: "X"}
  - name: bath
    driver: simulated
    fields:
      - {name: level_percent, unit: percent, value: 50, labels: {tank: a}}
  - name: furnace
    driver: simulated
    labels: {room: b14, note: plain}
    fields:
      - {name: supply_temperature, unit: celsius, value: 900}
"""
CHILLER = {"supply_temperature": 12.5, "pump_on": True, "model": 'XS "205"\n\\dual'}
BATH = {"level_percent": 50}
FURNACE = {"supply_temperature": 900.0}
EVERYTHING = {"chiller": CHILLER, "bath": BATH, "furnace": FURNACE}
CHILLER_LABELS = {"device": "chiller", "room": "b12", "note": 'quote " back \\ and\nnewline'}


def render(settings: Settings, *cycles: Cycle) -> Exposition:
    plan, history = ReadingPlan(settings), DaemonHistory(settings)
    exposition = None
    for cycle in cycles:
        history.observe(cycle)
        exposition = render_exposition(cycle, plan, history, ProcessMetrics())
    assert exposition is not None
    return exposition


def samples(exposition: Exposition) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in parse_text(exposition.text.decode())
        for s in family.samples
    }


def value(exposition: Exposition, name: str, **labels: str) -> float:
    return samples(exposition)[(name, frozenset(labels.items()))]


def names(exposition: Exposition) -> set[str]:
    return {name for name, _ in samples(exposition)}


def test_reading_is_a_gauge_named_namespace_field_unit_with_device_and_its_labels() -> None:
    settings = settings_from(CONFIG)
    exposition = render(settings, make_cycle(1, EVERYTHING))
    note = settings.devices[0].labels["note"]
    assert note == 'quote " back \\ and\nnewline'  # a label value that needs every escape
    assert (
        value(exposition, "lab_supply_temperature_celsius", device="chiller", room="b12", note=note)
        == 12.5
    )
    assert (
        value(
            exposition, "lab_supply_temperature_celsius", device="furnace", room="b14", note="plain"
        )
        == 900.0
    )
    (family,) = [
        f
        for f in parse_text(exposition.text.decode())
        if f.name == "lab_supply_temperature_celsius"
    ]
    assert family.type == "gauge"


def test_unit_is_not_repeated_when_the_field_name_ends_with_it() -> None:
    exposition = render(settings_from(CONFIG), make_cycle(1, EVERYTHING))
    assert value(exposition, "lab_level_percent", device="bath", tank="a") == 50


def test_booleans_export_as_one_and_zero() -> None:
    settings = settings_from(CONFIG)
    on = render(settings, make_cycle(1, EVERYTHING))
    off = render(settings, make_cycle(1, {**EVERYTHING, "chiller": {**CHILLER, "pump_on": False}}))
    labels = {"device": "chiller", "room": "b12", "note": settings.devices[0].labels["note"]}
    assert value(on, "lab_pump_on", **labels) == 1
    assert value(off, "lab_pump_on", **labels) == 0


def test_string_exports_as_an_info_metric_with_the_text_as_a_label() -> None:
    settings = settings_from(CONFIG)
    exposition = render(settings, make_cycle(1, EVERYTHING))
    labels = {"device": "chiller", "room": "b12", "note": settings.devices[0].labels["note"]}
    assert value(exposition, "lab_model_info", model=CHILLER["model"], **labels) == 1
    om = {f.name: f for f in parse_openmetrics(exposition.body(openmetrics=True).decode())}
    assert om["lab_model"].type == "info"
    assert om["lab_model"].samples[0].labels["model"] == CHILLER["model"]


def test_failed_device_exports_none_of_its_readings() -> None:
    exposition = render(
        settings_from(CONFIG),
        make_cycle(1, {"bath": BATH, "furnace": FURNACE}, {"chiller": "timeout"}),
    )
    readings = [key for key in samples(exposition) if key[0].startswith("lab_")]
    assert all(("device", "chiller") not in labels for _, labels in readings)
    assert {"lab_pump_on", "lab_model_info"}.isdisjoint(names(exposition))
    assert value(exposition, "sensorpoll_device_up", **CHILLER_LABELS) == 0
    assert value(exposition, "sensorpoll_device_up", device="bath") == 1


def test_health_series_carry_the_device_s_configured_labels() -> None:
    exposition = render(
        settings_from(CONFIG),
        make_cycle(1, EVERYTHING),
        make_cycle(2, {"bath": BATH, "furnace": FURNACE}, {"chiller": "io"}),
    )
    furnace = {"device": "furnace", "room": "b14", "note": "plain"}
    health = [name for name in names(exposition) if name.startswith("sensorpoll_device_")]
    assert len(health) == 4
    for name in health:
        assert any(
            key == name and labels - {("reason", "timeout")} == furnace.items()
            for key, labels in samples(exposition)
        ), name
    assert value(exposition, "sensorpoll_device_errors_total", reason="io", **CHILLER_LABELS) == 1


def test_errors_are_counted_by_reason_across_cycles_but_not_while_skipped_in_backoff() -> None:
    ok = {"bath": BATH, "furnace": FURNACE}
    exposition = render(
        settings_from(CONFIG),
        make_cycle(1, ok, {"chiller": "timeout"}),
        make_cycle(2, ok, {"chiller": "timeout"}),
        make_cycle(3, ok, {"chiller": "crc"}),
        make_cycle(4, ok, {"chiller": "crc"}, skipped=frozenset({"chiller"})),
    )
    errors = "sensorpoll_device_errors_total"
    assert value(exposition, errors, reason="timeout", **CHILLER_LABELS) == 2
    assert value(exposition, errors, reason="crc", **CHILLER_LABELS) == 1
    assert value(exposition, errors, device="bath", reason="timeout") == 0


def test_each_device_s_error_counter_is_there_at_zero_from_the_start() -> None:
    settings = settings_from(CONFIG)
    before = render_exposition(None, ReadingPlan(settings), DaemonHistory(settings))
    errors = {
        labels: count
        for (name, labels), count in samples(before).items()
        if name == "sensorpoll_device_errors_total"
    }
    assert errors == {
        frozenset({**CHILLER_LABELS, "reason": "timeout"}.items()): 0,
        frozenset({"device": "bath", "reason": "timeout"}.items()): 0,
        frozenset(
            {"device": "furnace", "room": "b14", "note": "plain", "reason": "timeout"}.items()
        ): 0,
    }


def test_last_success_timestamp_stays_while_the_device_is_down() -> None:
    first = make_cycle(1, EVERYTHING)
    exposition = render(
        settings_from(CONFIG),
        first,
        make_cycle(2, {"bath": BATH, "furnace": FURNACE}, {"chiller": "io"}),
    )
    expected = first.started + first.devices[0].duration_s
    stamp = value(exposition, "sensorpoll_device_last_success_timestamp_seconds", **CHILLER_LABELS)
    assert math.isclose(stamp, expected)


def test_cycle_counters_and_duration_histogram() -> None:
    exposition = render(
        settings_from(CONFIG),
        make_cycle(1, EVERYTHING, duration_s=0.003),
        make_cycle(2, EVERYTHING, duration_s=0.2, overruns_total=1),
        make_cycle(3, EVERYTHING, duration_s=20.0, overruns_total=1),
    )
    assert value(exposition, "sensorpoll_cycles_total") == 3
    assert value(exposition, "sensorpoll_cycle_overruns_total") == 1
    histogram = "sensorpoll_cycle_duration_seconds"
    assert value(exposition, f"{histogram}_bucket", le="0.005") == 1
    assert value(exposition, f"{histogram}_bucket", le="0.25") == 2
    assert value(exposition, f"{histogram}_bucket", le="10.0") == 2
    assert value(exposition, f"{histogram}_bucket", le="+Inf") == 3
    assert value(exposition, f"{histogram}_count") == 3
    assert math.isclose(value(exposition, f"{histogram}_sum"), 20.203)


def test_every_family_has_help_and_type() -> None:
    exposition = render(settings_from(CONFIG), make_cycle(1, EVERYTHING, {}))
    lines = exposition.text.decode().splitlines()
    typed = [line.split()[2] for line in lines if line.startswith("# TYPE ")]
    helped = {line.split()[2] for line in lines if line.startswith("# HELP ")}
    assert len(typed) == len(set(typed))
    assert set(typed) == helped
    assert len([name for name in typed if name.startswith("lab_")]) == 4
    assert len([name for name in typed if name.startswith("sensorpoll_")]) == 8
    assert {"process_cpu_seconds_total", "process_open_fds", "python_info"} <= set(typed)


def test_promtool_finds_nothing_to_complain_about() -> None:
    promtool = require_tool("promtool")
    ok = {"bath": BATH, "furnace": {"supply_temperature": math.nan}}
    exposition = render(
        settings_from(CONFIG), make_cycle(1, EVERYTHING), make_cycle(2, ok, {"chiller": "timeout"})
    )
    assert b"\nprocess_cpu_seconds_total " in exposition.text
    assert b"\nsensorpoll_build_info{" in exposition.text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition.text, capture_output=True, timeout=30
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")


def test_openmetrics_has_the_same_samples_and_ends_with_eof() -> None:
    exposition = render(settings_from(CONFIG), make_cycle(1, EVERYTHING), make_cycle(2, EVERYTHING))
    om = exposition.body(openmetrics=True).decode()
    assert om.endswith("\n# EOF\n")
    om_samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in parse_openmetrics(om)
        for s in family.samples
    }
    text_samples = samples(exposition)
    assert om_samples.keys() == text_samples.keys()
    # process_* are read when each form is first asked for, so CPU time moves between them
    moving = {key for key in text_samples if key[0].startswith("process_")}
    assert {k: v for k, v in om_samples.items() if k not in moving} == {
        k: v for k, v in text_samples.items() if k not in moving
    }


async def test_devices_removed_on_reload_drop_all_their_series() -> None:
    settings = settings_from(CONFIG)
    smaller = settings_from(CONFIG.split("  - name: bath")[0])
    async with serving(settings) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(1, {"chiller": CHILLER}, {"bath": "timeout", "furnace": "io"}))
        await exporter.reconfigure(smaller)
        exporter.publish(make_cycle(2, {"chiller": CHILLER}))
        async with client.get(url + "metrics") as response:
            text = await response.text()
    assert 'device="chiller"' in text
    assert 'device="bath"' not in text
    assert 'device="furnace"' not in text
