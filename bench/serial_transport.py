"""pyserial-asyncio-fast (our dependency) against pyserial-asyncio 0.6 (baseline) on a pty.

Measures opening+closing a port, request/response round trips, and the longest event-loop
stall during opens. Run with both installed:  python bench/serial_transport.py
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
import tty
from collections.abc import Callable
from typing import Any

OPENS = 200
ROUND_TRIPS = 2000
REQUEST, REPLY = b"MEAS?\r\n", b"21.500,-3.250\r\n"


class Client(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.event = asyncio.Event()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.event.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def pty_instrument() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    buffer = bytearray()

    def readable() -> None:
        try:
            buffer.extend(os.read(master, 4096))
        except OSError:
            return
        while (end := buffer.find(b"\n")) >= 0:
            del buffer[: end + 1]
            os.write(master, REPLY)

    asyncio.get_running_loop().add_reader(master, readable)
    return master, slave, os.ttyname(slave)


async def stall_watch(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], loop.time() - before - 0.001)


async def measure(module: Any) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    master, slave, path = pty_instrument()
    open_: Callable[..., Any] = module.create_serial_connection
    try:
        stop, worst = asyncio.Event(), [0.0]
        watcher = asyncio.create_task(stall_watch(stop, worst))
        start = time.perf_counter()
        for _ in range(OPENS):
            transport, client = await open_(loop, Client, path, baudrate=115200)
            await asyncio.sleep(0)
            transport.close()
            await client.closed
        open_close = (time.perf_counter() - start) / OPENS
        stop.set()
        await watcher

        transport, client = await open_(loop, Client, path, baudrate=115200)
        await asyncio.sleep(0.01)
        start = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            client.buffer.clear()
            transport.write(REQUEST)
            while not client.buffer.endswith(b"\r\n"):
                client.event.clear()
                await client.event.wait()
        round_trip = (time.perf_counter() - start) / ROUND_TRIPS
        transport.close()
        await client.closed
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)
    return {
        "open_close_ms": open_close * 1e3,
        "round_trip_us": round_trip * 1e6,
        "worst_stall_ms": worst[0] * 1e3,
    }


def sync_open_ms() -> float:
    """How long a plain blocking pyserial open+close of a pty takes (what would stall a loop)."""
    import serial

    master, slave = os.openpty()
    try:
        start = time.perf_counter()
        for _ in range(OPENS):
            serial.Serial(os.ttyname(slave), 115200).close()
        return (time.perf_counter() - start) / OPENS * 1e3
    finally:
        os.close(master)
        os.close(slave)


def main() -> None:
    results = {}
    for name in ("serial_asyncio", "serial_asyncio_fast"):
        module = importlib.import_module(name)
        results[name] = asyncio.run(measure(module))
    base, ours = results["serial_asyncio"], results["serial_asyncio_fast"]
    print(f"blocking pyserial open+close of a pty: {sync_open_ms():.3f} ms")
    for key in base:
        print(
            f"{key:>16}: pyserial-asyncio 0.6 {base[key]:9.3f}   "
            f"pyserial-asyncio-fast {ours[key]:9.3f}   ratio {ours[key] / base[key]:.2f}"
        )


if __name__ == "__main__":
    main()
