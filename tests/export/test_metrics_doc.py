"""docs/metrics.md lists every metric sensorpoll exports, and the reasons it says start at 0."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.drivers import registry
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import render_exposition
from sensorpoll.export.processmetrics import ProcessMetrics
from sensorpoll.export.readings import ReadingPlan
from tests.conftest import REPO
from tests.export.helpers import make_cycle, settings_from

DOC = (REPO / "docs" / "metrics.md").read_text()
CONFIG = """
devices:
  - name: chiller
    driver: simulated
    labels: {room: b12}
    fields:
      - {name: temperature, unit: celsius, value: 12.5}
"""


def test_every_metric_of_the_exposition_is_in_the_reference() -> None:
    settings = settings_from(CONFIG)
    history = DaemonHistory(settings)
    cycle = make_cycle(1, {"chiller": {"temperature": 12.5}})
    history.observe(cycle)
    plan, process, last_reload = ReadingPlan(settings), ProcessMetrics(), LastReload.at_start()
    text = render_exposition(cycle, plan, history, process, last_reload=last_reload).text
    names = {s.name for f in parse_text(text.decode()) for s in f.samples}
    names = {re.sub(r"_(bucket|sum|count)$", "", n) for n in names if not n.startswith("lab_")}
    assert len(names) > 10
    assert sorted(n for n in names if f"`{n}`" not in DOC) == []


def test_the_reasons_at_zero_from_the_start_are_the_drivers_own() -> None:
    rows = re.findall(r"^\| `(\w+)` \| ((?:`[^`]+`(?:, )?)+) \|$", DOC, re.MULTILINE)
    documented = {driver: tuple(re.findall(r"`([^`]+)`", reasons)) for driver, reasons in rows}
    assert documented == {name: registry.driver_class(name).reasons for name in registry.BUILTIN}


def test_a_serial_instrument_that_checks_errors_has_instrument_error_at_zero_too() -> None:
    query = """
    port: /dev/ttyUSB{n}
    queries:
      - {{command: "KRDG? A\\r\\n", parse: '(?P<a>[-+\\d.E]+)', fields: [{{name: a}}]}}
"""
    config = "devices:\n"
    for name, n, extra in (("checked", 1, "check_errors: true"), ("plain", 2, "")):
        body = query.format(n=n) + (f"    {extra}\n" if extra else "")
        config += f"  - name: {name}\n    driver: serial\n" + body
    settings = settings_from(config)
    history = DaemonHistory(settings)
    cycle = make_cycle(1, {"checked": {"a": 4.2}, "plain": {"a": 4.3}})
    history.observe(cycle)
    plan, process = ReadingPlan(settings), ProcessMetrics()
    text = render_exposition(cycle, plan, history, process, last_reload=LastReload.at_start()).text
    zero = {
        (s.labels["device"], s.labels["reason"])
        for f in parse_text(text.decode())
        for s in f.samples
        if s.name == "sensorpoll_device_errors_total" and s.value == 0
    }
    common = {"timeout", "connection", "parse"}
    assert {r for d, r in zero if d == "checked"} == common | {"instrument_error"}
    assert {r for d, r in zero if d == "plain"} == common
