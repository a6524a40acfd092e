"""The HTTP server, on aiohttp in the daemon's own event loop: /metrics, the cycle API, health.

Serves what was rendered when the latest cycle finished; a scrape never renders anything.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from sensorpoll.config.schema import Settings, parse_listen
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.export.cyclejson import cycle_to_json
from sensorpoll.export.exposition import CONTENT_TYPE, render_exposition

log = logging.getLogger(__name__)


class HttpExporter:
    """Publisher that renders each cycle once and serves it over HTTP."""

    def __init__(self, settings: Settings, listen: str | None = None) -> None:
        self.settings = settings
        self.listen = listen or settings.http.listen
        self._cycle: Cycle | None = None
        self._metrics = b""
        self._cycle_json = b""
        self._runner: web.AppRunner | None = None
        self._started = 0.0
        self.app = web.Application()
        self.app.add_routes(
            [
                web.get("/metrics", self._get_metrics),
                web.get("/api/v1/cycle", self._get_cycle),
                web.get("/healthz", self._get_healthz),
            ]
        )

    async def start(self) -> None:
        host, port = parse_listen(self.listen)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host or None, port)
        await site.start()
        self._started = asyncio.get_running_loop().time()
        log.info("serving HTTP on %s", self.listen)

    def publish(self, cycle: Cycle) -> None:
        # Rendered once here, swapped in as a whole: every scrape sees one whole cycle.
        metrics = render_exposition(cycle, self.settings)
        cycle_json = cycle_to_json(cycle).encode()
        self._cycle, self._metrics, self._cycle_json = cycle, metrics, cycle_json

    async def reopen(self) -> None:
        pass

    async def reconfigure(self, settings: Settings) -> None:
        if settings.http.listen != self.settings.http.listen:
            log.warning("http.listen changed: the new address takes effect after a restart")
        self.settings = settings

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics, headers={"Content-Type": CONTENT_TYPE})

    async def _get_cycle(self, request: web.Request) -> web.Response:
        if self._cycle is None:
            return web.json_response({"error": "no cycle has completed yet"}, status=503)
        return web.Response(body=self._cycle_json, content_type="application/json")

    async def _get_healthz(self, request: web.Request) -> web.Response:
        limit = 2 * self.settings.interval + self.settings.default_timeout
        cycle = self._cycle
        last = self._started if cycle is None else cycle.started_monotonic + cycle.duration_s
        if asyncio.get_running_loop().time() - last > limit:
            return web.Response(status=503, text="stalled: no cycle completed recently\n")
        return web.Response(text="ok\n")
