"""Bus time per cycle with poll rates: 10 slaves on one 19200-baud RTU line (a pty whose relay
paces bytes at the baud rate), each with 10 register blocks; everything read every cycle,
against 90% of the registers configured at 10x the base interval.

Each run reads one whole schedule period (10 grid points, after a first read of everything)
back to back through the real poll loop. Bus time is the time the line was occupied, from the
relay's trace: each transaction from its request's first character to its answer's last, plus
the silence after it (the cycle's duration adds the poll loop's own time between requests,
printed beside it). Target: the bus time per base cycle drops by at least 5x. This layout
sends 100 requests a cycle against 10 + 90/10 = 19, 5.26x fewer, all of one size: the ratio of
bus time can only come near that.

    .venv/bin/python bench/poll_rates.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics

from sensorpoll.config import parse_settings
from sensorpoll.daemon.devices import Devices
from sensorpoll.drivers import registry
from sensorpoll.drivers.modbus.plan import device_plan
from sensorpoll.drivers.modbus.report import bus_time_per_cycle
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from sensorpoll.drivers.modbus.wire import silence
from sensorpoll.drivers.pty import RTU_BITS_PER_CHAR, PtyLink

BAUD = 19200
SLAVES = 10
BLOCKS = 10  # per slave, 100 addresses apart: one request each
REGISTERS = 2  # per block
SLOW = 10  # the slow blocks' interval, in base intervals
INTERVAL = 4.0  # seconds; only the config's rules need it: cycles run back to back


def config_text(port: str, rated: bool) -> str:
    devices = []
    for unit in range(1, SLAVES + 1):
        fields = []
        for block in range(BLOCKS):
            field = {"name": f"b{block}", "address": 100 * block, "type": "uint32"}
            if rated and block > 0:  # block 0 (10% of the registers) stays at the base rate
                field["interval"] = f"{SLOW * INTERVAL:g}s"
            fields.append(field)
        devices.append(
            {"name": f"slave{unit}", "driver": "modbus", "transport": "rtu", "port": port,
             "baudrate": BAUD, "unit_id": unit, "fields": fields,
             "response_timeout": "1s"}  # a loaded machine must not lose a request
        )  # fmt: skip
    config = {"interval": f"{INTERVAL:g}s", "timeout": f"{INTERVAL * 0.95:g}s", "devices": devices}
    return json.dumps(config)  # JSON is YAML


def line_busy(trace: list[tuple[float, int, bytes]]) -> float:
    """Seconds the line was occupied, from the relay's trace (loop time each write was made,
    by which end, its bytes): each transaction from its request's first character to its
    answer's last one (the slave's turnaround included), plus the t3.5 silence after it. The
    relay delivers a write when its last character would have been sent, one at a time."""
    char, free_at, busy = RTU_BITS_PER_CHAR / BAUD, 0.0, 0.0
    started: float | None = None
    for when, end, data in trace:
        start = max(when, free_at)
        free_at = start + len(data) * char
        if end == 0:  # a request, from sensorpoll's end
            started = start
        elif started is not None:  # its answer
            busy += free_at - started + silence(BAUD)
            started = None
    return busy


async def bus_time(rated: bool) -> tuple[float, float, float]:
    """(line occupied, cycle duration, wire model) seconds per base cycle, averaged over one
    period of the schedule."""
    link = await PtyLink(baudrate=BAUD).start()
    units = {}
    for unit in range(1, SLAVES + 1):
        image = UnitImage()
        for block in range(BLOCKS):
            image.set("holding", 100 * block, [unit, block])
        units[unit] = image
    slave = await SimulatedSlave.serial(units, link.ends[1], baudrate=BAUD)
    settings = parse_settings(config_text(link.ends[0], rated), "bench", registry.config_model)
    devices = Devices(settings)
    try:
        await devices.open()
        first = await devices.cycle(tick=0)  # connects; reads everything
        assert all(d.ok for d in first.devices), [d.detail for d in first.devices]
        durations = []
        link.trace = []
        for tick in range(1, SLOW + 1):
            cycle = await devices.cycle(tick=tick)
            assert all(d.ok for d in cycle.devices), [d.detail for d in cycle.devices]
            durations.append(cycle.duration_s)
        busy = line_busy(link.trace) / SLOW
    finally:
        await devices.aclose()
        await slave.aclose()
        await link.aclose()
    configs = list(settings.devices)
    plans = {d.name: device_plan(d) for d in configs}  # type: ignore[arg-type]
    model = bus_time_per_cycle(configs, plans, settings.interval)  # type: ignore[arg-type]
    return busy, statistics.fmean(durations), model.average


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    everything, everything_cycle, everything_model = asyncio.run(bus_time(rated=False))
    rated, rated_cycle, rated_model = asyncio.run(bus_time(rated=True))
    print(f"{SLAVES} slaves x {BLOCKS} blocks of {REGISTERS} registers, {BAUD} baud paced pty line")
    for what, busy, cycle, model in (
        ("everything at the base rate:        ", everything, everything_cycle, everything_model),
        (f"90% of the registers at {SLOW}x the rate:", rated, rated_cycle, rated_model),
    ):
        print(
            f"{what} {busy * 1000:7.1f} ms bus time per cycle (cycle {cycle * 1000:.1f} ms, "
            f"wire model {model * 1000:.1f} ms)"
        )
    requests = BLOCKS / (1 + (BLOCKS - 1) / SLOW)
    print(
        f"ratio: {everything / rated:.2f}x less bus time per cycle (target >= 5x); "
        f"cycle durations {everything_cycle / rated_cycle:.2f}x; requests per cycle "
        f"{requests:.2f}x fewer"
    )


if __name__ == "__main__":
    main()
