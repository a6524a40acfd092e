"""Which asyncio event loop the commands run on: uvloop where it is installed, else asyncio's.

Chosen by `event_loop:` in the config or `--event-loop` (cli); used by `run`, `once`,
`simulate` and `probe`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sensorpoll.config.schema import EventLoopChoice

T = TypeVar("T")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(choice: EventLoopChoice = "auto") -> LoopFactory:
    """auto and uvloop: uvloop's loop when uvloop imports (a config naming uvloop where it is
    not installed fails validation); asyncio, or auto without uvloop: asyncio's own."""
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """`uvloop` or `asyncio`, for the log."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice = "auto") -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
