"""The status page as a person sees it: rendered by a real headless Chromium, no JavaScript."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.export.conftest import DEVICES

pytestmark = pytest.mark.slow


class DeviceRows(HTMLParser):
    """Collects `data-device` -> `data-status` and each row's text from the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, str] = {}
        self.text: dict[str, str] = {}
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-device"):
            self._row = found["data-device"]
            self.status[self._row] = found.get("data-status") or ""
            self.text[self._row] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None:
            self.text[self._row] += data


def rendered_dom(url: str, profile: Path) -> str:
    chromium = require_tool("chromium")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-javascript", f"--user-data-dir={profile}",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def rows(demo_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> DeviceRows:
    parser = DeviceRows()
    parser.feed(rendered_dom(demo_daemon, tmp_path_factory.mktemp("chromium")))
    return parser


def test_status_page_lists_every_device(rows: DeviceRows) -> None:
    assert list(rows.status) == list(DEVICES)


def test_status_page_marks_the_failed_device_down(rows: DeviceRows) -> None:
    assert rows.status == {"chiller": "up", "furnace": "up", "broken_probe": "down"}
    assert "DOWN" in rows.text["broken_probe"]
    assert "crc" in rows.text["broken_probe"]


def test_status_page_shows_last_values_with_units_and_text_as_text(rows: DeviceRows) -> None:
    assert "supply_temperature = 12.5 celsius" in rows.text["chiller"]
    assert "XS205 <DualRange>" in rows.text["chiller"]  # escaped in HTML, shown as written
    assert "setpoint = 900 celsius" in rows.text["furnace"]
