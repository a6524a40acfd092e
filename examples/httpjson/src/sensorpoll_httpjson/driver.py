"""`HttpJsonDriver`: one GET per cycle, the fields picked out of the JSON answer.

aiohttp's exceptions become sensorpoll's typed device errors in one table, `AIOHTTP_ERRORS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from sensorpoll.config import Settings
from sensorpoll.drivers import (
    Bus,
    Buses,
    DeviceConnectionError,
    DeviceError,
    DeviceIOError,
    DeviceTimeout,
    Driver,
    ParseError,
    ProtocolError,
    ReportWarning,
    Value,
)
from sensorpoll.drivers.errors import ExceptionTable, described, map_exceptions
from sensorpoll_httpjson.config import HttpJsonConfig, JsonField
from sensorpoll_httpjson.simulation import serve_devices


def _http_status(exc: Exception) -> DeviceError:
    assert isinstance(exc, aiohttp.ClientResponseError)
    return ProtocolError(f"HTTP {exc.status} {exc.message}", reason=f"http:{exc.status}")


AIOHTTP_ERRORS: ExceptionTable = (
    (aiohttp.ClientConnectorError, lambda exc: DeviceConnectionError(described(exc))),
    # before OSError: TimeoutError is one, and aiohttp's socket timeouts are TimeoutErrors
    (TimeoutError, lambda exc: DeviceTimeout(described(exc))),
    ((json.JSONDecodeError, UnicodeDecodeError), lambda exc: ParseError(f"not JSON: {exc}")),
    (aiohttp.ClientResponseError, _http_status),
    ((aiohttp.ClientError, OSError), lambda exc: DeviceIOError(described(exc))),
)
"""aiohttp's exceptions as the device errors whose `reason` the cycle shows: first match wins."""


def pick(document: Any, field: JsonField) -> Value:
    """The field's value in `document`; ParseError naming the path when it is not there."""
    node = document
    for i, step in enumerate(field.path):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            where = ".".join(field.path[: i + 1])
            raise ParseError(f"field {field.name}: the document has no {where}")
    wanted = {"number": (int, float), "bool": (bool,), "string": (str,)}[field.type]
    # JSON true/false are Python bools, which are ints: not numbers here
    if not isinstance(node, wanted) or (field.type == "number" and isinstance(node, bool)):
        raise ParseError(f"field {field.name}: expected a {field.type}, got {node!r}")
    value: Value = node
    return value


class HostSession:
    """The HTTP session the devices on one host share, as their Bus's connection (which is
    anything with an `async aclose()`)."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(raise_for_status=True)

    async def aclose(self) -> None:
        await self.session.close()


class HttpJsonDriver(Driver[HttpJsonConfig]):
    """A device with an HTTP JSON status endpoint."""

    config_model = HttpJsonConfig
    reasons = ("timeout", "connection", "parse")

    def __init__(self, config: HttpJsonConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        self.bus: Bus = buses.get(config.bus().key)

    def _session(self) -> aiohttp.ClientSession:
        # The first device on a host opens the session its neighbours share; the Bus closes
        # it when the daemon stops or a reload removes the host's last device.
        connection = self.bus.connection
        if connection is None:
            connection = self.bus.connection = HostSession()
            self.bus.on_close(connection.aclose)
        if not isinstance(connection, HostSession):
            raise TypeError(f"bus {self.bus.key} holds a {type(connection).__name__}")
        return connection.session

    async def read(self) -> Mapping[str, Value]:
        url = self.config.url
        async with self.bus.turn():
            with map_exceptions(AIOHTTP_ERRORS, url):
                async with self._session().get(url) as response:
                    document = await response.json(content_type=None)
        return {field.name: pick(document, field) for field in self.config.fields}

    @classmethod
    def check_report(cls, devices: list[HttpJsonConfig], settings: Settings) -> list[str]:
        lines = ["httpjson requests:"]
        by_url: dict[str, list[str]] = {}
        for device in devices:
            by_url.setdefault(device.url, []).append(device.name)
            picks = ", ".join(f"{f.name} <- {f.key or f.name}" for f in device.fields)
            lines.append(f"  {device.name}: GET {device.url}: {picks}")
        for url, names in by_url.items():
            if len(names) > 1:
                lines.append(
                    ReportWarning(
                        f"{', '.join(names)} all GET {url}: one device with all their "
                        "fields reads it once per cycle instead of once each"
                    )
                )
        return lines

    @classmethod
    async def simulate(cls, devices: list[HttpJsonConfig], announce: Callable[[str], None]) -> bool:
        return await serve_devices(devices, announce)
