"""Throughput of one RTU bus: 10 slaves x 10 registers at 19200 baud on a pty line whose
relay paces bytes at the baud rate (11-bit characters, half duplex), polled back to back by
sensorpoll's driver through the real poll loop; against the wire model's maximum.

Wire model per transaction: (8 + 5 + 2N) x 11 / baud + 2 x t3.5 (turnaround 0: the maximum).
Target: achieved >= 90% of it.

    .venv/bin/python bench/rtu_bus.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio

from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.modbus import ModbusDriver
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from sensorpoll.drivers.modbus.wire import request_time
from sensorpoll.drivers.pty import PtyLink

BAUD = 19200
SLAVES = 10
REGISTERS = 10


async def run(seconds: float) -> tuple[float, float, int]:
    link = await PtyLink(baudrate=BAUD).start()
    units = {}
    for unit in range(1, SLAVES + 1):
        image = UnitImage()
        image.set("holding", 0, list(range(unit, unit + REGISTERS)))
        units[unit] = image
    slave = await SimulatedSlave.serial(units, link.ends[1], baudrate=BAUD)
    buses = Buses()
    pollers = []
    for unit in units:
        config = ModbusConfig.model_validate(
            {
                "name": f"slave{unit}",
                "driver": "modbus",
                "transport": "rtu",
                "port": link.ends[0],
                "baudrate": BAUD,
                "unit_id": unit,
                "fields": [
                    {"name": f"r{i}", "address": i, "type": "uint16"} for i in range(REGISTERS)
                ],
            }
        )
        pollers.append(DevicePoller(ModbusDriver(config, buses), 5.0, 5.0))  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    try:
        cycle = await poll_cycle(pollers, 0)  # connect, warm up
        assert all(d.ok for d in cycle.devices), [d.detail for d in cycle.devices]
        transactions, number, start = 0, 0, loop.time()
        while loop.time() - start < seconds:
            number += 1
            cycle = await poll_cycle(pollers, number)
            assert all(d.ok for d in cycle.devices), [d.detail for d in cycle.devices]
            transactions += len(cycle.devices)
        elapsed = loop.time() - start
    finally:
        for p in pollers:
            await p.driver.aclose()
        await buses.aclose()
        await slave.aclose()
        await link.aclose()
    model = 1 / request_time(REGISTERS, BAUD, turnaround=0.0)
    return transactions / elapsed, model, transactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    achieved, model, transactions = asyncio.run(run(args.seconds))
    print(
        f"{SLAVES} slaves x {REGISTERS} registers, {BAUD} baud paced pty line, "
        f"{transactions} transactions in {args.seconds:g}s"
    )
    print(f"wire-model maximum: {model:6.2f} transactions/s")
    print(f"achieved:           {achieved:6.2f} transactions/s")
    print(f"ratio: {achieved / model:.1%} of the wire model (target >= 90%)")


if __name__ == "__main__":
    main()
