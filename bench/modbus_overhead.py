"""CPU time per device read: sensorpoll's Modbus driver under the real poll loop, against a
bare pymodbus `gather` loop on the same event loop, over the same 50 loopback TCP slaves in one
run; once on asyncio's own loop and once on uvloop (the default where installed).

The slaves run in a child process so this process's CPU time is the client side only.
Rounds alternate between the variants so all see the same machine load. Target: driver vs
bare pymodbus <= 1.2x on each loop.

Then the same rounds with the process idle before each (1, 10, 250 ms, not counted), as a
daemon sleeps between cycles: the CPU one read costs after a sleep, for both variants.

    .venv/bin/python bench/modbus_overhead.py [--devices 50] [--rounds 300] [--loop both]
                                              [--gaps 1,10,250]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time

from pymodbus.client import AsyncModbusTcpClient

from sensorpoll.daemon.eventloop import loop_factory
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


async def measure(ports: list[int], rounds: int, gap: float = 0.0) -> tuple[float, float, float]:
    """CPU per device read of each variant; `gap` seconds idle before every round (as a
    daemon at 4 Hz idles ~250 ms before each cycle), not counted."""
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
    # as the daemon does after startup (service.py): long-lived objects out of GC scans
    gc.collect()
    gc.freeze()

    async def cycle_round(n: int) -> None:
        cycle = await poll_cycle(pollers, n)
        assert all(d.ok for d in cycle.devices)

    async def driver_round(n: int) -> None:
        await asyncio.gather(*(d.read() for d in drivers))

    async def baseline_round(n: int) -> None:
        await bare_round(clients)

    totals = {"bare": 0.0, "loop": 0.0, "driver": 0.0}
    rounds_of = {"bare": baseline_round, "loop": cycle_round, "driver": driver_round}
    order = list(rounds_of)
    for n in range(rounds):
        for name in order if n % 2 else reversed(order):  # no variant always goes first
            if gap:
                await asyncio.sleep(gap)
            start = time.process_time()
            await rounds_of[name](n)
            totals[name] += time.process_time() - start
    gc.unfreeze()
    bare, ours, driver_only = totals["bare"], totals["loop"], totals["driver"]
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
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--loop", choices=["both", "asyncio", "uvloop"], default="both")
    parser.add_argument(
        "--gaps",
        default="1,10,250",
        help="idle milliseconds before each round for the idle part, comma-separated ('' skips)",
    )
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
        loops = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
        figures = {}
        for name in loops:
            with asyncio.Runner(loop_factory=loop_factory(name)) as runner:  # type: ignore[arg-type]
                figures[name] = runner.run(measure(ports, args.rounds))
        gaps = [float(g) for g in args.gaps.split(",") if g.strip()]
        idle = {}
        with asyncio.Runner(loop_factory=loop_factory(loops[-1])) as runner:  # type: ignore[arg-type]
            for gap in gaps:  # about ten seconds of idling each
                rounds = max(10, min(args.rounds, int(10_000 / (3 * max(gap, 1.0)))))
                idle[gap] = runner.run(measure(ports, rounds, gap / 1000))
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
    print(f"{args.devices} loopback TCP slaves, {args.rounds} rounds, {REGISTERS} registers/read")
    for name, (bare, ours, driver_only) in figures.items():
        print(f"[{name}]")
        print(f"baseline (bare pymodbus gather):  {bare * 1e6:7.1f} us CPU per device read")
        print(f"sensorpoll driver (gather read):  {driver_only * 1e6:7.1f} us CPU per device read")
        print(f"driver under the poll loop:       {ours * 1e6:7.1f} us CPU per device read")
        print(f"ratio, driver vs baseline:        {driver_only / bare:.2f}x (target <= 1.20x)")
        print(
            f"ratio, driver + poll loop:        {ours / bare:.2f}x (loop: task, deadline, result)"
        )
    if len(figures) == 2:
        loop_ratio = figures["uvloop"][1] / figures["asyncio"][1]
        print(f"driver + poll loop, uvloop vs asyncio: {loop_ratio:.2f}x CPU per device read")
    if idle:
        # The same work after the process idled: what it costs in a daemon that sleeps
        # between cycles. Both variants grow alike; the growth is the machine's (caches and
        # the virtual CPU after idling), not the request path's.
        print(f"[{loops[-1]}, idle before each round: the same reads after the process slept]")
        print("  idle ms   bare pymodbus   poll loop   ratio   (us CPU per device read)")
        rows = [(0.0, figures[loops[-1]]), *idle.items()]
        for gap, (bare, ours, _) in rows:
            print(f"  {gap:7.0f}   {bare * 1e6:13.1f}   {ours * 1e6:9.1f}   {ours / bare:.2f}x")


if __name__ == "__main__":
    main()
