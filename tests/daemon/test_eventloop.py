"""The event loop choice: uvloop where installed (auto), asyncio's own when asked for."""

from __future__ import annotations

import asyncio

import pytest

from sensorpoll.cli import build_parser, event_loop
from sensorpoll.config.schema import Settings
from sensorpoll.daemon import eventloop


async def running_loop() -> str:
    return eventloop.loop_name(asyncio.get_running_loop())


def settings(event_loop: str) -> Settings:
    return Settings.model_construct(event_loop=event_loop)  # only the key under test


def test_auto_runs_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    assert eventloop.run(running_loop(), "auto") == "uvloop"


def test_asyncio_runs_on_the_standard_loop() -> None:
    assert eventloop.run(running_loop(), "asyncio") == "asyncio"


def test_the_config_key_chooses_the_loop_when_no_flag_is_given() -> None:
    args = build_parser().parse_args(["once"])
    assert event_loop(args, settings(event_loop="asyncio")) == "asyncio"


@pytest.mark.parametrize(
    "argv",
    [["--event-loop", "asyncio", "once"], ["once", "--event-loop", "asyncio"]],
    ids=["before_the_command", "after_the_command"],
)
def test_the_flag_overrides_the_config_key(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert event_loop(args, settings(event_loop="uvloop")) == "asyncio"
