"""config/lab-templates.yaml, the example of templates, rates and field features: it is valid,
and `simulate` serves it so that `once` reads every device and field as meant."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

from sensorpoll.cli import EXIT_OK, main
from tests.conftest import REPO, free_port

EXAMPLE = REPO / "config" / "lab-templates.yaml"
PORTS = ("15030", "15031", "15032")


def test_the_example_templates_config_is_valid() -> None:
    assert main(["check", "-c", str(EXAMPLE)]) == EXIT_OK


def copy_on_free_ports(directory: Path) -> Path:
    """The example and its templates in `directory`, on ports nobody else uses right now."""
    shutil.copytree(REPO / "config" / "templates", directory / "templates")
    text = EXAMPLE.read_text()
    for port in PORTS:
        text = text.replace(f"port: {port}", f"port: {free_port()}")
    copy = directory / "lab-templates.yaml"
    copy.write_text(text)
    return copy


async def sensorpoll(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sensorpoll", *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


async def test_simulate_serves_the_example_and_once_reads_it(tmp_path: Path) -> None:
    config = copy_on_free_ports(tmp_path)
    server = await sensorpoll("simulate", "-c", str(config))
    try:
        assert server.stdout is not None
        for _ in PORTS:  # one announcement per endpoint: serving
            await asyncio.wait_for(server.stdout.readline(), 15)
        once = await sensorpoll("once", "-c", str(config), "--format", "json")
        out, err = await asyncio.wait_for(once.communicate(), 30)
    finally:
        server.terminate()
        await server.communicate()
    assert once.returncode == 0, err.decode()
    devices = {d["device"]: d for d in json.loads(out)["devices"]}
    meter = devices["meter_3"]["values"]
    assert (meter["running"], meter["alarm"], meter["tariff"]) == (True, False, 2)
    assert meter["serial_no"] == "PM-0042"
    assert 227 <= meter["voltage_l1"] <= 233
    assert 0 <= devices["inverter"]["values"]["ac_power"] <= 3000
