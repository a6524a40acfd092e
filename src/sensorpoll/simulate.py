"""`sensorpoll simulate -c FILE`: serve stand-ins for a config's devices until SIGTERM.

Each driver serves its own devices through its `Driver.simulate` hook (Modbus: pymodbus slaves
on loopback TCP or a pty); this command only groups devices by driver and handles signals.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from sensorpoll.config.schema import EventLoopChoice, Settings
from sensorpoll.daemon import eventloop
from sensorpoll.drivers.registry import driver_class


def announce(line: str) -> None:
    print(line, flush=True)


async def serve(settings: Settings) -> int:
    by_driver: dict[str, list[Any]] = {}
    for device in settings.devices:
        by_driver.setdefault(device.driver, []).append(device)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    hooks = {
        loop.create_task(driver_class(name).simulate(devices, announce), name=f"simulate:{name}")
        for name, devices in by_driver.items()
    }
    stopping = loop.create_task(stop.wait())
    try:
        pending = set(hooks)
        while pending:
            done, pending = await asyncio.wait(
                pending | {stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            if stopping in done:
                return 0
            pending.discard(stopping)
            for task in done:
                task.result()  # a hook that failed to start: its error ends the command
            # hooks that returned had nothing to serve; the others keep running
            if not pending and not any(task.result() for task in hooks):
                print("simulate: nothing in this config can be simulated", file=sys.stderr)
                return 1
            if not pending:
                await stopping
                return 0
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        for task in (*hooks, stopping):
            task.cancel()
        await asyncio.gather(*hooks, stopping, return_exceptions=True)


def run(settings: Settings, choice: EventLoopChoice = "auto") -> int:
    try:
        return eventloop.run(serve(settings), choice)
    except Exception as exc:  # a server that cannot start: say why, no traceback
        print(f"simulate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
