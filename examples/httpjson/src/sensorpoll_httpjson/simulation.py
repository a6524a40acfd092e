"""`sensorpoll simulate` for httpjson devices: one loopback web server per host:port, serving
each device's URL path a JSON document built from its fields' `simulate` values."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from sensorpoll.drivers import is_loopback
from sensorpoll_httpjson.config import HttpJsonConfig

DEFAULTS: dict[str, Any] = {"number": 0, "bool": False, "string": ""}


def document(devices: list[HttpJsonConfig]) -> dict[str, Any]:
    """The JSON object the devices' fields are read from (list steps served as object keys,
    which the driver's path lookup accepts too)."""
    root: dict[str, Any] = {}
    for field in (field for device in devices for field in device.fields):
        *parents, leaf = field.path
        node = root
        for step in parents:
            node = node.setdefault(step, {})
        node[leaf] = field.simulate if field.simulate is not None else DEFAULTS[field.type]
    return root


async def serve_devices(devices: list[HttpJsonConfig], announce: Callable[[str], None]) -> bool:
    """Serve every loopback device until cancelled; False when none is on loopback."""
    paths: dict[tuple[str, int], dict[str, list[HttpJsonConfig]]] = {}
    for device in devices:
        if not is_loopback(device.host):
            announce(f"{device.name}: not simulated: {device.host} is not a loopback address")
            continue
        if urlsplit(device.url).scheme != "http":
            announce(f"{device.name}: not simulated: the simulator serves http://, not https://")
            continue
        on_host = paths.setdefault((device.host, device.port), {})
        on_host.setdefault(urlsplit(device.url).path or "/", []).append(device)
    if not paths:
        return False
    apps: dict[tuple[str, int], web.Application] = {}
    for endpoint, on_host in paths.items():
        app = apps[endpoint] = web.Application()
        for path, readers in on_host.items():
            app.router.add_get(path, _handler(document(readers)))
    runners = []
    try:
        for (host, port), app in apps.items():
            runner = web.AppRunner(app, access_log=None)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            served = ", ".join(d.name for readers in paths[host, port].values() for d in readers)
            announce(f"httpjson on http://{host}:{port}: {served}")
        await asyncio.Event().wait()  # until cancelled
    finally:
        for runner in runners:
            await runner.cleanup()
    return True


def _handler(body: dict[str, Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response(body)

    return handle
