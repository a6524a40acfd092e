"""grafana/sensorpoll.json imports anywhere and queries only metrics sensorpoll exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import render_exposition
from sensorpoll.export.readings import ReadingPlan
from tests.conftest import REPO
from tests.export.helpers import make_cycle, settings_from

DASHBOARD = REPO / "grafana" / "sensorpoll.json"


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_dashboard_takes_its_prometheus_datasource_as_an_import_input() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    assert len({p["id"] for p in panels(dashboard)}) == len(list(panels(dashboard)))


def test_dashboard_queries_only_metrics_sensorpoll_exports() -> None:
    settings = settings_from(
        "devices:\n  - {name: a, driver: simulated, fields: [{name: t, value: 1}]}\n"
    )
    history = DaemonHistory(settings)
    history.observe(make_cycle(1, {}, {"a": "timeout"}))
    history.observe(second := make_cycle(2, {"a": {"t": 1.0}}))
    exposition = render_exposition(second, ReadingPlan(settings), history)
    exported = {s.name for f in parse_text(exposition.text.decode()) for s in f.samples}
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
        for name in re.findall(r"\bsensorpoll_[a-z_]+", target["expr"])
    }
    assert queried, "the dashboard queries sensorpoll's metrics"
    assert queried <= exported
    titles = " ".join(p["title"].lower() for p in panels(dashboard))
    for topic in ("up/down", "errors by reason", "cycle duration", "readings"):
        assert topic in titles
