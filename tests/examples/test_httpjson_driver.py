"""The example third-party driver in examples/httpjson, installed as a user would install it:
found through its entry point, served by `sensorpoll simulate`, read by `sensorpoll once`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from tests.conftest import free_port


@pytest.fixture(autouse=True)
def _installed() -> None:
    """`.ci/run` installs the example; a developer runs `pip install ./examples/httpjson`."""
    try:
        distribution("sensorpoll-httpjson")
    except PackageNotFoundError:
        message = "sensorpoll-httpjson is not installed (pip install ./examples/httpjson)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}, and CI must run this test")
        pytest.skip(message)


async def sensorpoll(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sensorpoll", *args, stdout=subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def write_config(path: Path, port: int, device_path: str = "/status") -> Path:
    path.write_text(
        f"""
devices:
  - name: plug
    driver: httpjson
    url: http://127.0.0.1:{port}{device_path}
    labels: {{room: b12}}
    fields:
      - {{name: power, key: apower, unit: watts, simulate: 41.5}}
      - {{name: temperature, key: temperature.tC, unit: celsius, simulate: 36.2}}
      - {{name: output, type: bool, simulate: true}}
      - {{name: firmware, type: string, simulate: "2.4.1"}}
"""
    )
    return path


@pytest.fixture
async def simulated(tmp_path: Path) -> AsyncIterator[int]:
    """`sensorpoll simulate` serving the config's device; yields its port."""
    port = free_port()
    config = write_config(tmp_path / "simulated.yaml", port)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sensorpoll", "simulate", "-c", str(config), stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    announced = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert announced.decode() == f"httpjson on http://127.0.0.1:{port}: plug\n"
    yield port
    proc.terminate()
    await proc.communicate()


def values(out: str) -> dict[str, object]:
    (device,) = json.loads(out)["devices"]
    return {"error": device["error"], **device["values"]}


async def test_once_reads_what_simulate_serves(simulated: int, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", simulated)
    code, out = await sensorpoll("once", "-c", str(config), "--format", "json")
    assert (code, values(out)) == (
        0,
        {"error": None, "power": 41.5, "temperature": 36.2, "output": True, "firmware": "2.4.1"},
    )


async def test_a_path_the_device_does_not_serve_is_an_http_error(
    simulated: int, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", simulated, device_path="/nothing-here")
    code, out = await sensorpoll("once", "-c", str(config), "--format", "json")
    assert (code, values(out)) == (1, {"error": "http:404"})


async def test_a_closed_port_is_a_connection_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", free_port())
    code, out = await sensorpoll("once", "-c", str(config), "--format", "json")
    assert (code, values(out)) == (1, {"error": "connection"})


async def test_check_prints_the_drivers_report(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.yaml", 8080)
    code, out = await sensorpoll("check", "-c", str(config))
    assert code == 0
    assert "  plug: GET http://127.0.0.1:8080/status: power <- apower, " in out


async def test_a_key_missing_from_the_document_is_a_parse_error(
    simulated: int, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", simulated)
    config.write_text(config.read_text().replace("key: apower", "key: active_power"))
    code, out = await sensorpoll("once", "-c", str(config), "--format", "json")
    assert (code, values(out)) == (1, {"error": "parse"})
