"""The HTTP server, on aiohttp in the daemon's own event loop: /metrics, the cycle API, health,
the status page; TLS and basic auth from `http.web_config`.

Serves what was rendered when the latest cycle finished: on its first scrape, or between cycles
when a scrape is due (`ScrapeClock`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from sensorpoll.config.errors import ConfigError
from sensorpoll.config.schema import Settings, parse_listen
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.export.basicauth import BasicAuth
from sensorpoll.export.cyclejson import cycle_to_json_bytes
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import Exposition, render_exposition, with_reload_metrics
from sensorpoll.export.httplimits import (
    IDLE_TIMEOUT,
    BadRequests,
    BoundedListener,
    connection_limit,
)
from sensorpoll.export.negotiate import accepts_gzip, wants_openmetrics
from sensorpoll.export.processmetrics import ProcessMetrics
from sensorpoll.export.readings import ReadingPlan
from sensorpoll.export.scrapeclock import ScrapeClock
from sensorpoll.export.sinkmetrics import SinkStats, render_sink_metrics
from sensorpoll.export.statuspage import status_page_parts
from sensorpoll.export.trends import Trends
from sensorpoll.export.webconfig import LoadedWebConfig, load_web_config

log = logging.getLogger(__name__)

# aiohttp's own server log, for its connections: garbage requests become brief lines there
_SERVER_LOG = logging.getLogger("sensorpoll.export.http.server")
_SERVER_LOG.addFilter(BadRequests())

# a scrape expected within this many intervals of a cycle's publish has its body rendered then:
# a little over one, so a scraper whose period matches the interval is caught despite jitter
PRERENDER_SLACK = 1.25

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Published:
    """Everything served about one cycle, swapped in as a whole: a request that picked it up
    answers from it alone, so no response mixes two cycles."""

    def __init__(self, cycle: Cycle, render: Callable[[], Exposition]) -> None:
        self.cycle = cycle
        self._render = render

    @functools.cached_property
    def exposition(self) -> Exposition:
        # on the first scrape of the cycle, not every cycle: unscraped cycles (a fast interval,
        # a slow scraper) cost nothing to expose. Read in the same step as `_published`, so
        # before any later cycle's publish could change what it renders from.
        return self._render()

    @functools.cached_property
    def cycle_json(self) -> bytes:
        # on first request, at most once per cycle: most cycles are never asked for as JSON
        return cycle_to_json_bytes(self.cycle)


class HttpExporter:
    """Publisher that renders each cycle once and serves it over HTTP."""

    def __init__(
        self,
        settings: Settings,
        listen: str | None = None,
        sink_stats: Callable[[], Sequence[SinkStats]] = tuple,
        last_reload: LastReload | None = None,
    ) -> None:
        self.settings = settings
        self._sink_stats = sink_stats  # the sinks' counters, exported with each cycle
        self.listen = listen or settings.http.listen
        self._web: LoadedWebConfig | None = None
        self._auth: BasicAuth | None = None
        self._load_web_config(settings)  # a ConfigError here stops the start (exit 78)
        self._plan = ReadingPlan(settings)
        self._history = DaemonHistory(settings)
        self._process = ProcessMetrics()
        self._trends = Trends(settings)  # the status page's sparklines
        self._last_reload = last_reload or LastReload.at_start()
        self._last_reload.listeners.append(self._reload_recorded)
        self._published: Published | None = None
        self._scrapes = ScrapeClock()
        self._runner: web.AppRunner | None = None
        self.listener: BoundedListener | None = None
        self._started = 0.0
        self.addresses: list[str] = []  # the URLs actually bound, e.g. with port 0
        self.app = web.Application(middlewares=[self._authenticate])
        self.app.add_routes(
            [
                web.get("/", self._get_status_page),
                web.get("/metrics", self._get_metrics),
                web.get("/api/v1/cycle", self._get_cycle),
                web.get("/healthz", self._get_healthz),
            ]
        )

    def _load_web_config(self, settings: Settings) -> None:
        path = settings.http.web_config
        self._web = load_web_config(path) if path is not None else None
        users = self._web.users if self._web is not None else {}
        self._auth = BasicAuth(users) if users else None
        if self._auth is not None and self._web is not None and self._web.ssl_context is None:
            log.warning("basic auth without TLS: passwords cross the network in clear text")

    async def start(self) -> None:
        host, port = parse_listen(self.listen)
        ssl_context = self._web.ssl_context if self._web is not None else None
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            keepalive_timeout=IDLE_TIMEOUT,  # also ends a connection that never sends a request
            logger=_SERVER_LOG,
        )
        await self._runner.setup()
        assert self._runner.server is not None  # made by setup()
        # Our own listener rather than a TCPSite: it stops accepting at the connection limit,
        # so however many clients come, polling keeps its file descriptors.
        self.listener = BoundedListener(self._runner.server, connection_limit(), ssl_context)
        await self.listener.start(host or None, port)
        self._started = asyncio.get_running_loop().time()
        scheme = "https" if ssl_context is not None else "http"
        self.addresses = [f"{scheme}://{_host_port(a)}/" for a in self.listener.addresses]
        log.info("serving HTTP on %s", " ".join(self.addresses))

    def publish(self, cycle: Cycle) -> None:
        # Swapped in as a whole, rendered on its first scrape: every scrape sees one cycle.
        self._history.observe(cycle)
        self._trends.observe(cycle)

        def render() -> Exposition:
            sinks = render_sink_metrics(self._sink_stats())
            return render_exposition(
                cycle, self._plan, self._history, self._process, sinks, self._last_reload
            )

        self._published = published = Published(cycle, render)
        # A scrape due before the next cycle ends finds its body ready, rendered now, while
        # the poll loop waits for its next grid point (see ScrapeClock).
        scrapes = self._scrapes
        if scrapes.last is not None:
            loop = asyncio.get_running_loop()
            if scrapes.expected_within(loop.time(), self.settings.interval * PRERENDER_SLACK):
                loop.call_soon(self._prerender, published, scrapes.form)

    def _prerender(self, published: Published, form: tuple[bool, bool]) -> None:
        if published is not self._published:  # a reload's publish came first
            return
        openmetrics, gzipped = form
        try:
            published.exposition.body(openmetrics=openmetrics, gzipped=gzipped)
        except Exception:  # the scrape renders it again, and answers 500 if it still fails
            log.exception("rendering cycle %d for /metrics failed", published.cycle.number)

    def _reload_recorded(self) -> None:
        if (published := self._published) is not None:
            last_reload = self._last_reload
            self._published = Published(
                published.cycle, lambda: with_reload_metrics(published.exposition, last_reload)
            )

    async def reopen(self) -> None:
        pass

    async def reconfigure(self, settings: Settings) -> None:
        if (listen := settings.http.listen) != self.settings.http.listen:
            log.warning("http.listen changed to %s: takes effect after a restart", listen)
        try:
            old_tls = self._web.config.tls_server_config if self._web is not None else None
            self._load_web_config(settings)
            new_tls = self._web.config.tls_server_config if self._web is not None else None
            if new_tls != old_tls:
                log.warning("TLS settings changed: they take effect after a restart")
        except ConfigError as exc:
            log.error("web config not reloaded, keeping the previous one:\n%s", exc)
        if (published := self._published) is not None:
            # rendered now if not yet scraped: from the plan and history that describe its
            # cycle, not the new config's (which may lack some of its devices)
            _ = published.exposition
        self._plan = ReadingPlan(settings)
        self._history.configure(settings)
        if settings.interval != self.settings.interval:  # another slot size: start afresh
            self._trends = Trends(settings)
        else:
            self._trends.reconfigure(settings)
        self.settings = settings

    async def aclose(self) -> None:
        if self.listener is not None:
            await self.listener.aclose()  # no new connections; the runner closes the open ones
            self.listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = self._auth
        if auth is not None and not await auth.allows(request.headers.get("Authorization")):
            return web.Response(
                status=401,
                text="401 Unauthorized\n",
                headers={"WWW-Authenticate": 'Basic realm="sensorpoll", charset="UTF-8"'},
            )
        return await handler(request)

    def exposition(self) -> Exposition:
        """What `/metrics` serves now: the latest cycle's exposition."""
        published = self._published
        if published is not None:
            return published.exposition
        # before the first cycle: the process, the build, the sinks, the counters at 0
        sinks = render_sink_metrics(self._sink_stats())
        return render_exposition(
            None, self._plan, self._history, self._process, sinks, self._last_reload
        )

    async def _get_metrics(self, request: web.Request) -> web.Response:
        exposition = self.exposition()
        openmetrics = wants_openmetrics(request.headers.get("Accept"))
        gzipped = accepts_gzip(request.headers.get("Accept-Encoding"))
        now = asyncio.get_running_loop().time()
        self._scrapes.scraped(now, openmetrics=openmetrics, gzipped=gzipped)
        headers = {
            "Content-Type": Exposition.content_type(openmetrics=openmetrics),
            "Vary": "Accept, Accept-Encoding",
        }
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        body = exposition.body(openmetrics=openmetrics, gzipped=gzipped)
        return web.Response(body=body, headers=headers)

    async def _get_cycle(self, request: web.Request) -> web.Response:
        published = self._published
        if published is None:
            return _not_yet()
        return web.Response(body=published.cycle_json, content_type="application/json")

    async def _get_status_page(self, request: web.Request) -> web.Response:
        published = self._published
        cycle = published.cycle if published is not None else None
        try:
            number = int(request.query.get("page", "1"))
        except ValueError:
            number = 1
        parts = status_page_parts(
            cycle,
            self.settings,
            self._history,
            self._trends,
            time.time(),
            number,
            self._sink_stats(),
        )
        page = []
        for part in parts:
            page.append(part)
            await asyncio.sleep(0)  # a cycle may start between two device cards
        return web.Response(text="".join(page), content_type="text/html")

    async def _get_healthz(self, request: web.Request) -> web.Response:
        limit = 2 * self.settings.interval + self.settings.default_timeout
        published = self._published
        if published is None:
            last, what = self._started, "no cycle has completed since the start"
        else:
            cycle = published.cycle
            last = cycle.started_monotonic + cycle.duration_s
            what = f"cycle {cycle.number} was the last to complete"
        age = asyncio.get_running_loop().time() - last
        if age > limit:
            return web.Response(
                status=503, text=f"stalled: {what}, {age:.1f}s ago (limit {limit:g}s)\n"
            )
        return web.Response(text=f"ok: {what}, {age:.1f}s ago\n")


def _not_yet() -> web.Response:
    return web.Response(
        status=503, text="no cycle has completed yet\n", headers={"Retry-After": "1"}
    )


def _host_port(address: object) -> str:
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)
