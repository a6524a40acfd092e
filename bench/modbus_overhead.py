"""CPU time per device read: sensorpoll's Modbus driver under the real poll loop, against a
bare pymodbus `gather` loop, over the same 50 loopback TCP slaves in one run.

The slaves run in a child process so this process's CPU time is the client side only.
Rounds alternate between the two so both see the same machine load. Target: ratio <= 1.2.

    .venv/bin/python bench/modbus_overhead.py [--devices 50] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

from pymodbus.client import AsyncModbusTcpClient

from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.drivers.bus import Buses
from sensorpoll.drivers.modbus import ModbusDriver
from sensorpoll.drivers.modbus.codec import encode
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage

FIELDS = [
    {"name": "temperature", "address": 0, "type": "float32", "unit": "celsius"},
    {"name": "status", "address": 2, "type": "uint16"},
    {"name": "counter", "address": 3, "type": "int32", "byte_order": "CDAB"},
    {"name": "pressure", "address": 8, "type": "int16", "scale": 0.01},
]
REGISTERS = 10


async def serve(count: int) -> None:
    """Child process: `count` slaves, their ports on stdout, until stdin closes."""
    image = UnitImage()
    image.set("holding", 0, [*encode(21.5, "float32"), 1, 0, 7, 0, 0, 0, 1234, 0])
    slaves = [await SimulatedSlave.tcp({1: image}) for _ in range(count)]
    print(" ".join(str(s.port) for s in slaves), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    for slave in slaves:
        await slave.aclose()


async def bare_round(clients: list[AsyncModbusTcpClient]) -> None:
    responses = await asyncio.gather(
        *(c.read_holding_registers(0, count=REGISTERS, device_id=1) for c in clients)
    )
    assert all(not r.isError() for r in responses)


async def measure(ports: list[int], rounds: int) -> tuple[float, float, float]:
    clients = [
        AsyncModbusTcpClient("127.0.0.1", port=p, timeout=1.0, retries=0, reconnect_delay=0)
        for p in ports
    ]
    for client in clients:
        assert await client.connect()
    buses = Buses()
    pollers = []
    for i, port in enumerate(ports):
        config = ModbusConfig.model_validate(
            {
                "name": f"d{i}",
                "driver": "modbus",
                "host": "127.0.0.1",
                "port": port,
                "fields": FIELDS,
            }
        )
        pollers.append(DevicePoller(ModbusDriver(config, buses), 1.0, 1.0))  # type: ignore[arg-type]
    # warm up both paths (connections, caches)
    for n in range(5):
        await bare_round(clients)
        cycle = await poll_cycle(pollers, n)
        assert all(d.ok for d in cycle.devices), [d.error for d in cycle.devices]
    drivers = [p.driver for p in pollers]
    bare = ours = driver_only = 0.0
    for n in range(rounds):
        start = time.process_time()
        await bare_round(clients)
        bare += time.process_time() - start
        start = time.process_time()
        cycle = await poll_cycle(pollers, n)
        ours += time.process_time() - start
        assert all(d.ok for d in cycle.devices)
        start = time.process_time()
        await asyncio.gather(*(d.read() for d in drivers))
        driver_only += time.process_time() - start
    for client in clients:
        client.close()
    for p in pollers:
        await p.driver.aclose()
    await buses.aclose()
    reads = rounds * len(ports)
    return bare / reads, ours / reads, driver_only / reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.devices)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ports = [int(p) for p in child.stdout.readline().split()]
        bare, ours, driver_only = asyncio.run(measure(ports, args.rounds))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    print(f"{args.devices} loopback TCP slaves, {args.rounds} rounds, {REGISTERS} registers/read")
    print(f"baseline (bare pymodbus gather): {bare * 1e6:8.1f} us CPU per device read")
    print(f"sensorpoll (driver + poll loop): {ours * 1e6:8.1f} us CPU per device read")
    print(f"driver alone (gather of read()): {driver_only * 1e6:8.1f} us CPU per device read")
    print(f"ratio, driver + poll loop: {ours / bare:.2f}x (target <= 1.20x)")
    print(f"ratio, driver alone:       {driver_only / bare:.2f}x")


if __name__ == "__main__":
    main()
