"""End to end: a real Prometheus scrapes a real `sensorpoll run`; its query API shows the data."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, require_tool
from tests.export.conftest import DEVICES
from tests.export.helpers import get

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def prometheus_scraping(target: str, workdir: Path) -> Iterator[str]:
    binary = require_tool("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1m}\n"
        "scrape_configs:\n"
        f"  - {{job_name: sensorpoll, static_configs: [{{targets: ['{target}']}}]}}\n"
    )
    for _ in range(3):  # the free port may be taken by someone else meanwhile: try another
        port = free_port()
        with (workdir / "prometheus.log").open("wb") as log:
            process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            if get(url + "/-/ready")[0] == 200:
                break
            time.sleep(0.2)
        if process.poll() is None:
            break
    try:
        assert process.poll() is None, (workdir / "prometheus.log").read_text()[-3000:]
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    status, body = get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert status == 200, body
    result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
    return result


def by_device(result: list[dict[str, Any]]) -> dict[str, float]:
    return {r["metric"]["device"]: float(r["value"][1]) for r in result}


@pytest.fixture(scope="module")
def prometheus(demo_daemon: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    target = demo_daemon.removeprefix("http://").rstrip("/")
    with prometheus_scraping(target, tmp_path_factory.mktemp("prometheus")) as url:
        deadline = time.monotonic() + 20
        while len(query(url, "sensorpoll_device_up")) < len(DEVICES):
            assert time.monotonic() < deadline, "Prometheus never got sensorpoll_device_up"
            time.sleep(0.3)
        yield url


def test_prometheus_scrapes_sensorpoll_successfully(prometheus: str) -> None:
    (up,) = query(prometheus, 'up{job="sensorpoll"}')
    assert up["value"][1] == "1"


def test_prometheus_sees_every_device_up_or_down(prometheus: str) -> None:
    assert by_device(query(prometheus, "sensorpoll_device_up")) == {
        "chiller": 1.0, "furnace": 1.0, "broken_probe": 0.0,
    }  # fmt: skip


def test_prometheus_has_the_right_reading_values_and_labels(prometheus: str) -> None:
    (temperature,) = query(prometheus, "lab_supply_temperature_celsius")
    assert temperature["metric"] == {
        "__name__": "lab_supply_temperature_celsius", "device": "chiller", "room": "b12",
        "instance": temperature["metric"]["instance"], "job": "sensorpoll",
    }  # fmt: skip
    assert float(temperature["value"][1]) == 12.5
    assert by_device(query(prometheus, "lab_setpoint_celsius")) == {"furnace": 900.0}
    assert by_device(query(prometheus, "lab_pump_on")) == {"chiller": 1.0}
    (model,) = query(prometheus, "lab_model_info")
    assert model["metric"]["model"] == "XS205 <DualRange>"


def test_prometheus_has_no_readings_of_the_failed_device_only_its_errors(prometheus: str) -> None:
    assert query(prometheus, "lab_humidity_percent") == []
    (errors,) = query(prometheus, "sensorpoll_device_errors_total > 0")
    assert errors["metric"]["device"] == "broken_probe"
    assert errors["metric"]["reason"] == "crc"
    assert float(errors["value"][1]) >= 1


def test_prometheus_sees_every_device_s_error_counter_from_the_start(prometheus: str) -> None:
    timeouts = query(prometheus, 'sensorpoll_device_errors_total{reason="timeout"}')
    assert by_device(timeouts) == {"chiller": 0.0, "furnace": 0.0, "broken_probe": 0.0}


def test_prometheus_sees_the_process_and_build_metrics(prometheus: str) -> None:
    (resident,) = query(prometheus, "process_resident_memory_bytes")
    assert float(resident["value"][1]) > 0
    (build,) = query(prometheus, "sensorpoll_build_info")
    assert {"version", "pymodbus", "python"} <= build["metric"].keys()


def test_promtool_is_clean_on_the_live_exposition(demo_daemon: str) -> None:
    promtool = require_tool("promtool")
    status, body = get(demo_daemon + "metrics")
    assert status == 200
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")
