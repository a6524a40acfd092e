"""A real `sensorpoll run` with simulated devices, shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.export.helpers import sensorpoll_run, wait_for_first_cycle

DEMO = """\
interval: 500ms
timeout: 300ms
metrics: {namespace: lab}
devices:
  - name: chiller
    driver: simulated
    labels: {room: b12}
    fields:
      - {name: supply_temperature, unit: celsius, value: 12.5}
      - {name: pump_on, value: true}
      - {name: model, value: "XS205 <DualRange>"}
  - name: furnace
    driver: simulated
    labels: {room: b14}
    fields:
      - {name: setpoint, unit: celsius, value: 900}
  - name: broken_probe
    driver: simulated
    faults: {error_rate: 1.0, error_reason: crc}
    fields:
      - {name: humidity, unit: percent, value: 40}
"""
DEVICES = ("chiller", "furnace", "broken_probe")


@pytest.fixture(scope="module")
def demo_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running daemon that has read its first cycle: two devices up,
    `broken_probe` always down."""
    config = tmp_path_factory.mktemp("daemon") / "config.yaml"
    config.write_text(DEMO)
    with sensorpoll_run(config) as url:
        wait_for_first_cycle(url)
        yield url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.export.screenshots import SAVED

    for path in SAVED:
        if path.exists():
            terminalreporter.write_line(f"screenshot for review: {path}")
