"""`sensorpoll simulate -c FILE` end to end: serve a config, poll it with `once`, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import pytest


def config(port: int, tty: str) -> str:
    return f"""
interval: 1s
devices:
  - name: chiller
    driver: modbus
    host: 127.0.0.1
    port: {port}
    unit_id: 3
    fields:
      - {{name: supply, address: 100, type: float32, unit: celsius, simulate: {{value: 12.5}}}}
      - {{name: serial_no, address: 200, type: string, count: 4, simulate: {{value: SN-42}}}}
      - {{name: pump_on, table: coil, address: 0, simulate: {{value: true}}}}
      - {{name: wave, address: 110, type: int16, simulate: {{waveform: sine, min: -5, max: 5}}}}
  - name: bath
    driver: modbus
    transport: rtu
    port: {tty}
    baudrate: 115200
    unit_id: 7
    fields:
      - {{name: level, table: input, address: 0, unit: percent, simulate: {{value: 42}}}}
  - name: bath2
    driver: modbus
    transport: rtu
    port: {tty}
    baudrate: 115200
    unit_id: 8
    fields:
      - {{name: level, table: input, address: 0, type: float64, byte_order: GHEFCDAB,
          simulate: {{value: -1.25}}}}
"""


async def run(*args: str, **kwargs):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sensorpoll", *args, stdout=subprocess.PIPE, **kwargs
    )


@pytest.fixture
async def simulated(tmp_path, unused_tcp_port):
    path = tmp_path / "config.yaml"
    tty = tmp_path / "ttyBATH"
    path.write_text(config(unused_tcp_port, str(tty)))
    proc = await run("simulate", "-c", str(path), stderr=subprocess.PIPE)
    assert proc.stdout is not None
    announced = [(await asyncio.wait_for(proc.stdout.readline(), 10)).decode() for _ in range(2)]
    yield proc, path, tty, announced
    if proc.returncode is None:
        proc.kill()
        await proc.communicate()


async def test_simulate_announces_each_endpoint(simulated, unused_tcp_port):
    _, _, tty, announced = simulated
    assert announced[0].startswith("modbus tcp on 127.0.0.1:")
    assert announced[1].startswith(f"modbus rtu on {tty} -> /dev/pts/")


async def test_a_simulated_config_polls_end_to_end(simulated):
    _, path, _, _ = simulated
    once = await run("once", "-c", str(path), "--format", "json")
    out, _ = await once.communicate()
    assert once.returncode == 0
    values = {d["device"]: d["values"] for d in json.loads(out)["devices"]}
    wave = values["chiller"].pop("wave")
    assert values == {
        "chiller": {"supply": 12.5, "serial_no": "SN-42", "pump_on": True},
        "bath": {"level": 42},
        "bath2": {"level": -1.25},
    }
    assert -5 <= wave <= 5


async def test_simulate_exits_0_on_sigterm_and_removes_its_port_link(simulated):
    proc, _, tty, _ = simulated
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
    assert not tty.exists()


async def test_simulate_exits_1_without_a_traceback_when_its_port_is_taken(tmp_path):
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    path = tmp_path / "config.yaml"
    path.write_text(config(port, str(tmp_path / "tty")))
    try:
        proc = await run("simulate", "-c", str(path), stderr=subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        blocker.close()
        await blocker.wait_closed()
    assert proc.returncode == 1
    assert err.decode().startswith("simulate: ")
    assert "Traceback" not in err.decode()


def test_the_example_simulation_config_is_valid():
    from pathlib import Path

    from sensorpoll.cli import EXIT_OK, main

    example = Path(__file__).parents[3] / "config" / "modbus-sim.yaml"
    assert main(["check", "-c", str(example)]) == EXIT_OK
