"""The reload metrics in the exposition: both gauges always there, and a reload's outcome
swapped into the latest cycle's exposition without touching the rest of it."""

from __future__ import annotations

import aiohttp
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import render_exposition, with_reload_metrics
from sensorpoll.export.readings import ReadingPlan
from tests.export.helpers import make_cycle, serving, settings_from

CONFIG = """
devices:
  - {name: a, driver: simulated, fields: [{name: t, unit: celsius, value: 1}]}
"""
SUCCESSFUL = "sensorpoll_config_last_reload_successful"
TIMESTAMP = "sensorpoll_config_last_reload_success_timestamp_seconds"


def values(text: str) -> dict[str, float]:
    return {s.name: s.value for family in parse_text(text) for s in family.samples}


def test_both_reload_gauges_are_in_every_exposition() -> None:
    settings = settings_from(CONFIG)
    history, cycle = DaemonHistory(settings), make_cycle(1, {"a": {"t": 1}})
    history.observe(cycle)
    exposition = render_exposition(
        cycle, ReadingPlan(settings), history, last_reload=LastReload(True, 1e9)
    )
    served = values(exposition.text.decode())
    assert served[SUCCESSFUL] == 1
    assert served[TIMESTAMP] == 1e9
    families = {f.name: f.type for f in parse_om(exposition.body(openmetrics=True).decode())}
    assert families[SUCCESSFUL] == families[TIMESTAMP] == "gauge"


def test_a_recorded_outcome_replaces_only_the_reload_gauges() -> None:
    settings = settings_from(CONFIG)
    history, cycle = DaemonHistory(settings), make_cycle(7, {"a": {"t": 1}})
    history.observe(cycle)
    last_reload = LastReload(True, 1e9)
    before = render_exposition(cycle, ReadingPlan(settings), history, last_reload=last_reload)
    last_reload.failed()
    after = with_reload_metrics(before, last_reload)
    assert after.cycle == 7
    old, new = values(before.text.decode()), values(after.text.decode())
    assert new[SUCCESSFUL] == 0
    assert new[TIMESTAMP] == 1e9
    assert {k: v for k, v in new.items() if k != SUCCESSFUL} == {
        k: v for k, v in old.items() if k != SUCCESSFUL
    }


async def test_a_scrape_between_a_reload_and_the_next_cycle_serves_the_cycle_before() -> None:
    second = "  - {name: b, driver: simulated, fields: [{name: t, value: 2}]}\n"
    settings = settings_from(CONFIG + second)
    async with serving(settings) as (exporter, url), aiohttp.ClientSession() as client:
        exporter.publish(make_cycle(3, {"a": {"t": 1}, "b": {"t": 2}}))
        await exporter.reconfigure(settings_from(CONFIG))  # b removed
        async with client.get(url + "metrics") as response:
            assert response.status == 200
            text = await response.text()
    assert values(text)["sensorpoll_cycles_total"] == 3
