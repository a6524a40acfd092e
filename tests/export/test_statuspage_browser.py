"""The status page as a person sees it, in a real headless Chromium at desktop (1400 px) and
phone (400 px) widths: DOM and layout checks, and screenshots saved for review. Also without
JavaScript, against a real `sensorpoll run`."""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.http import HttpExporter
from sensorpoll.export.sinkmetrics import SinkStats
from tests.conftest import require_tool
from tests.export.chromium import chromium
from tests.export.conftest import DEVICES
from tests.export.helpers import serving, settings_from
from tests.export.screenshots import screenshot_path

pytestmark = pytest.mark.slow

LAB = """\
interval: 1s
metrics: {namespace: lab}
devices:
  - name: chiller
    driver: simulated
    labels: {room: b12, rack: r3}
    fields:
      - {name: supply_temperature, unit: celsius, value: 12.5}
      - {name: return_temperature, unit: celsius, value: 16}
      - {name: pump_on, value: true}
      - {name: model, value: "XS205 <DualRange>"}
  - name: vacuum_chamber
    driver: simulated
    labels: {room: b14}
    fields:
      - {name: pressure, unit: pascals, value: 1}
      - {name: flow, unit: liters_per_minute, value: 1}
  - name: power_meter_main_distribution_board
    driver: simulated
    labels: {room: basement}
    fields:
      - {name: active_power, unit: watts, value: 1}
      - {name: energy_imported, unit: kilowatt_hours, value: 1}
      - {name: voltage_l1, unit: volts, value: 1}
  - name: furnace
    driver: simulated
    labels: {room: hall}
    fields:
      - {name: setpoint, unit: celsius, value: 900}
      - {name: humidity, unit: percent, value: 40}
  - name: broken_probe
    driver: simulated
    labels: {room: b12}
    fields:
      - {name: humidity, unit: percent, value: 40}
"""
LAB_DEVICES = ["chiller", "vacuum_chamber", "power_meter_main_distribution_board", "furnace",
               "broken_probe"]  # fmt: skip
HISTORY = 600  # cycles of 1 s: ten minutes
BROKEN_FROM = 420  # broken_probe times out from this cycle on


def lab_cycle(i: int, now: float) -> Cycle:
    """Cycle `i` of the history: slow waves, a pump that cycles, a probe that breaks."""
    t = i / 60
    results = [
        DeviceResult("chiller", True, None, 0.011, {
            "supply_temperature": 12.5 + 0.8 * math.sin(t), "return_temperature": 16 + math.cos(t),
            "pump_on": (i // 90) % 2 == 0, "model": "XS205 <DualRange>"}),
        DeviceResult("vacuum_chamber", True, None, 0.02, {
            "pressure": 101325 * math.exp(-i / 40) + 0.8, "flow": 2.5 + 0.1 * math.sin(3 * t)}),
        DeviceResult("power_meter_main_distribution_board", True, None, 0.031, {
            "active_power": 4200 + 900 * math.sin(2 * t), "energy_imported": 183_402 + i * 0.0012,
            "voltage_l1": 229.18755 + math.sin(5 * t)}),
        DeviceResult("furnace", True, None, 0.009, {"setpoint": 900, "humidity": 38 + 4 * t / 10}),
        DeviceResult("broken_probe", True, None, 0.01, {"humidity": 41.0 + math.sin(t)})
        if i < BROKEN_FROM
        else DeviceResult("broken_probe", False, "timeout", 0.8, {},
                          "no answer within 800 ms", True),
    ]  # fmt: skip
    return Cycle(i, now - HISTORY + i, 10_000.0 + i, 0.0312, tuple(results))


def publish_history(exporter: HttpExporter) -> None:
    now = time.time()
    for i in range(1, HISTORY + 1):
        exporter.publish(lab_cycle(i, now))


DOM = """(() => {
  const root = document.documentElement;
  const cards = [...document.querySelectorAll("section.device")];
  return {
    overflow: root.scrollWidth - root.clientWidth,
    links: [...document.querySelectorAll("nav a")].map(a => a.getAttribute("href")),
    summary: document.getElementById("summary").innerText,
    devices: cards.map(card => ({
      name: card.dataset.device,
      status: card.dataset.status,
      left: Math.round(card.getBoundingClientRect().left),
      text: card.innerText,
      labels: [...card.querySelectorAll(".labels li")].map(li => li.innerText),
      fields: Object.fromEntries([...card.querySelectorAll("tr[data-field]")].map(row => [
        row.dataset.field,
        {value: row.querySelector(".value").innerText,
         points: [...row.querySelectorAll("svg.spark polyline")]
           .reduce((n, line) => n + line.points.numberOfItems, 0)}])),
    })),
  };
})()"""

WIDTHS = (1400, 400)


async def _render(tmp: Path) -> dict[int, Any]:
    views: dict[int, Any] = {}
    broker = SinkStats("mqtt://broker.lab:1883/lab/{device}", 2900, 310, lambda: 40, False)
    async with serving(settings_from(LAB), [broker]) as (exporter, url), chromium(tmp) as page:
        publish_history(exporter)
        for width in WIDTHS:
            await page.viewport(width)
            await page.load(url)
            views[width] = await page.evaluate(DOM)
            path = screenshot_path(f"status-{width}px")
            await page.screenshot(path, width)
            print(f"screenshot: {path}")
    return views


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    """The page's DOM as Chromium laid it out, at each width (one browser for the module)."""
    return asyncio.run(_render(tmp_path_factory.mktemp("chromium")))


@pytest.mark.parametrize("width", WIDTHS)
def test_every_device_is_shown_in_config_order(views: dict[int, Any], width: int) -> None:
    assert [d["name"] for d in views[width]["devices"]] == LAB_DEVICES


@pytest.mark.parametrize("width", WIDTHS)
def test_no_horizontal_overflow(views: dict[int, Any], width: int) -> None:
    assert views[width]["overflow"] == 0


def test_cards_sit_side_by_side_on_a_desktop_and_stack_on_a_phone(views: dict[int, Any]) -> None:
    assert len({d["left"] for d in views[1400]["devices"]}) >= 3
    assert len({d["left"] for d in views[400]["devices"]}) == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_units_are_written_as_people_write_them(views: dict[int, Any], width: int) -> None:
    fields = {d["name"]: d["fields"] for d in views[width]["devices"]}
    units = {
        ("chiller", "supply_temperature"): " °C",
        ("vacuum_chamber", "pressure"): " Pa",
        ("vacuum_chamber", "flow"): " L/min",
        ("power_meter_main_distribution_board", "active_power"): " W",
        ("power_meter_main_distribution_board", "energy_imported"): " kWh",
        ("power_meter_main_distribution_board", "voltage_l1"): " V",
        ("furnace", "humidity"): " %",
    }
    for (device, field), unit in units.items():
        assert fields[device][field]["value"].endswith(unit), (device, field)
    assert fields["furnace"]["setpoint"]["value"] == "900 °C"


def test_text_and_booleans_are_shown_as_words_without_quotes(views: dict[int, Any]) -> None:
    chiller = views[1400]["devices"][0]["fields"]
    assert chiller["model"]["value"] == "XS205 <DualRange>"
    assert chiller["pump_on"]["value"] in ("yes", "no")


def test_labels_are_shown_on_each_device(views: dict[int, Any]) -> None:
    labels = {d["name"]: d["labels"] for d in views[400]["devices"]}
    assert labels["chiller"] == ["room b12", "rack r3"]
    assert labels["power_meter_main_distribution_board"] == ["room basement"]


@pytest.mark.parametrize("width", WIDTHS)
def test_each_number_field_has_a_sparkline_of_ten_minutes(
    views: dict[int, Any], width: int
) -> None:
    for device in views[width]["devices"]:
        for name, field in device["fields"].items():
            if name in ("pump_on", "model"):
                assert field["points"] == 0  # no trend for booleans and text
            elif device["name"] == "broken_probe":  # down for the last three minutes: a gap
                assert 70 <= field["points"] <= 90, field
            else:  # one point per 5 s: 120, give or take the window's edge
                assert field["points"] >= 115, (device["name"], name, field)


def test_a_down_device_is_marked_with_its_error_and_no_values(views: dict[int, Any]) -> None:
    probe = views[400]["devices"][-1]
    assert probe["status"] == "down"
    assert "DOWN" in probe["text"]
    assert "timeout: no answer within 800 ms" in probe["text"]
    assert probe["fields"]["humidity"]["value"] == "—"


def test_times_are_local_and_readable(views: dict[int, Any]) -> None:
    summary = views[1400]["summary"]
    clock = r"(\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d)"  # today, or the day before
    assert re.search(rf"cycle 600 at {clock} ", summary), summary
    assert "T" not in re.sub(r"[A-Z]{3,5}", "", summary.split(" at ")[1])  # no ISO 8601 stamp
    assert re.search(rf"last success {clock} \(\d+\.\d s ago\)", views[1400]["devices"][0]["text"])


def test_a_sink_in_trouble_shows_in_the_summary(views: dict[int, Any]) -> None:
    summary = views[400]["summary"]
    assert "mqtt://broker.lab:1883/lab/{device}: reconnecting, 40 queued, 310 dropped" in summary


def test_links_to_the_metrics_and_the_cycle_json(views: dict[int, Any]) -> None:
    assert views[400]["links"] == ["metrics", "api/v1/cycle", "healthz"]


async def test_with_javascript_the_page_updates_in_place(tmp_path: Path) -> None:
    async with serving(settings_from(LAB)) as (exporter, url), chromium(tmp_path) as page:
        now = time.time()
        exporter.publish(lab_cycle(1, now))
        await page.load(url)
        await page.evaluate("window.notReloaded = true")
        exporter.publish(lab_cycle(2, now))
        async with asyncio.timeout(15):
            while await page.evaluate("document.getElementById('summary').dataset.cycle") != "2":  # noqa: ASYNC110 (the browser's DOM has no event for us)
                await asyncio.sleep(0.1)
        assert await page.evaluate("window.notReloaded === true")


class DeviceCards(HTMLParser):
    """Collects `data-device` -> `data-status` and each card's text from the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, str] = {}
        self.text: dict[str, str] = {}
        self.refresh = False
        self._card: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "meta" and found.get("http-equiv") == "refresh":
            self.refresh = True
        if tag == "section" and found.get("data-device"):
            self._card = found["data-device"]
            self.status[self._card] = found.get("data-status") or ""
            self.text[self._card] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._card = None

    def handle_data(self, data: str) -> None:
        if self._card is not None:
            self.text[self._card] += data + " "


def rendered_dom(url: str, profile: Path) -> str:
    chromium_binary = require_tool("chromium")
    result = subprocess.run(
        [chromium_binary, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-javascript", f"--user-data-dir={profile}",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def cards(demo_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> DeviceCards:
    parser = DeviceCards()
    parser.feed(rendered_dom(demo_daemon, tmp_path_factory.mktemp("chromium")))
    return parser


def test_without_javascript_every_device_is_listed(cards: DeviceCards) -> None:
    assert list(cards.status) == list(DEVICES)


def test_without_javascript_the_page_refreshes_itself(cards: DeviceCards) -> None:
    assert cards.refresh


def test_without_javascript_the_failed_device_is_down(cards: DeviceCards) -> None:
    assert cards.status == {"chiller": "up", "furnace": "up", "broken_probe": "down"}
    assert "DOWN" in cards.text["broken_probe"]
    assert "crc" in cards.text["broken_probe"]


def test_without_javascript_values_show_with_units_and_text_as_text(cards: DeviceCards) -> None:
    assert "12.5 °C" in cards.text["chiller"]
    assert "XS205 <DualRange>" in cards.text["chiller"]  # escaped in HTML, shown as written
    assert "900 °C" in cards.text["furnace"]
