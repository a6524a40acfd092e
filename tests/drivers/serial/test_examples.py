"""Every example instruments config runs against `sensorpoll simulate` of itself, end to end:
the real commands in subprocesses, ptys and loopback sockets in between."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.drivers.serial.helpers import settings_from

CONFIG = Path(__file__).parents[3] / "config"
EXAMPLES = ["instruments-lxi.yaml", "instruments-queries.yaml", "instruments-handshake.yaml"]


def localised(text: str, tmp_path: Path) -> str:
    """The example with its /tmp ports under `tmp_path` and its TCP ports on free ones."""
    text = text.replace("/tmp/sensorpoll-", f"{tmp_path}/")
    ports = {number: free_port() for number in re.findall(r"^\s+port: (\d+)$", text, re.M)}
    return re.sub(r"^(\s+port: )(\d+)$", lambda m: f"{m[1]}{ports[m[2]]}", text, flags=re.M)


async def sensorpoll(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sensorpoll",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("example", EXAMPLES)
async def test_the_example_reads_its_own_simulation(example: str, tmp_path: Path) -> None:
    path = tmp_path / example
    path.write_text(localised((CONFIG / example).read_text(), tmp_path))
    devices = path.read_text().count("driver: serial")
    simulator = await sensorpoll("simulate", "-c", str(path))
    try:
        assert simulator.stdout is not None
        for _ in range(devices):  # one line per device once everything is served
            await asyncio.wait_for(simulator.stdout.readline(), 20)
        once = await sensorpoll("once", "-c", str(path), "--format", "json")
        out, err = await asyncio.wait_for(once.communicate(), 30)
    finally:
        simulator.send_signal(signal.SIGTERM)
        await asyncio.wait_for(simulator.communicate(), 20)
    assert once.returncode == 0, err.decode()
    cycle = json.loads(out)
    assert [d["error"] for d in cycle["devices"]] == [None] * devices
    assert simulator.returncode == 0


GUIDE = Path(__file__).parents[3] / "docs" / "serial.md"


def test_the_guides_worked_examples_are_valid_configs() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 4
    for block in blocks:
        settings = settings_from("devices:\n" + block)
        assert all(device.driver == "serial" for device in settings.devices)
