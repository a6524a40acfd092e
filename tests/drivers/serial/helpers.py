"""Builds validated settings from a YAML snippet and polls them, as the daemon would."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sensorpoll.config.loader import parse_settings
from sensorpoll.config.schema import Settings
from sensorpoll.daemon.devices import Devices
from sensorpoll.drivers import registry


def settings_from(yaml_text: str) -> Settings:
    return parse_settings(textwrap.dedent(yaml_text), "test.yaml", registry.config_model)


@asynccontextmanager
async def polling(yaml_text: str) -> AsyncIterator[Devices]:
    """The core's Devices over the config: `await poller.cycle()` runs one real cycle."""
    poller = Devices(settings_from(yaml_text))
    try:
        await poller.open()
        yield poller
    finally:
        await poller.aclose()


def thermometer(
    port: Path, *, name: str = "thermometer", extra: str = "", indent: str = "  "
) -> str:
    """One device section: `MEAS?` answered by `t1,t2`."""
    section = f"""\
- name: {name}
  driver: serial
  port: {port}
  baudrate: 9600
  command: "MEAS?\\r\\n"
  terminator: "\\r\\n"
  parse: '(?P<t1>-?[\\d.]+),(?P<t2>-?[\\d.]+)'
  fields:
    - {{name: t1, unit: celsius}}
    - {{name: t2, unit: celsius}}
{extra}"""
    return textwrap.indent(section, indent)


def config(*devices: str, interval: str = "1s", timeout: str = "500ms") -> str:
    return f"interval: {interval}\ntimeout: {timeout}\ndevices:\n" + "".join(devices)
