"""The README's examples work as written: `probe` against `simulate` of the example config.

Run with two changes only, so tests can run side by side: the config's TCP port and its pty
link path are swapped for free ones, in the config and in the commands alike."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys

from tests.conftest import REPO, free_port

README = (REPO / "README.md").read_text()
PORT, LINK = "15020", "/tmp/sensorpoll-sim-rs485"


def code_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    return blocks


def probe_example() -> list[str]:
    (block,) = [b for b in code_blocks(README) if any("sensorpoll probe" in x for x in b)]
    return block


async def test_the_probe_example_reads_the_simulated_chiller(tmp_path) -> None:
    simulate_line, probe_line = probe_example()
    port, link = str(free_port()), str(tmp_path / "rs485")
    config = tmp_path / "modbus-sim.yaml"
    original = (REPO / "config" / "modbus-sim.yaml").read_text()
    config.write_text(original.replace(PORT, port).replace(LINK, link))
    simulate_args = shlex.split(simulate_line.removesuffix("&"))
    assert simulate_args[:4] == ["sensorpoll", "simulate", "-c", "config/modbus-sim.yaml"]
    simulate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sensorpoll", "simulate", "-c", str(config), stdout=subprocess.PIPE
    )
    try:
        assert simulate.stdout is not None
        for _ in range(2):  # its TCP and its RTU endpoint
            await asyncio.wait_for(simulate.stdout.readline(), 20)
        probe_args = shlex.split(probe_line.replace(PORT, port))
        assert probe_args[:2] == ["sensorpoll", "probe"]
        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sensorpoll", *probe_args[1:], stdout=subprocess.PIPE
        )
        out, _ = await probe.communicate()
    finally:
        simulate.terminate()
        await simulate.communicate()
    assert probe.returncode == 0
    (row,) = [
        line.split() for line in out.decode().splitlines() if line.strip().startswith("float32")
    ]
    assert 11 <= float(row[4]) <= 14  # CDAB, as the README says
