"""What the HTTP server grants a client: a bounded number of connections, a time limit for a
connection that sends no complete request, and one brief log line for garbage, not a traceback.

HTTP shares the process with polling: however many clients connect, and however slowly, the
poll loop keeps the file descriptors and the journal keeps its signal.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import socket
import time
from collections.abc import Callable
from ssl import SSLContext

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

# A connection that has not sent a whole request this long after connecting (or after its
# last response) is closed: a slowloris client cannot hold its slot. Above Prometheus's
# default scrape timeout; scrapers reconnect when the next scrape comes.
IDLE_TIMEOUT = 15.0
MAX_CONNECTIONS = 256  # HTTP connections at most; fewer when the descriptor limit is low
FD_SHARE = 4  # HTTP may use a quarter of the descriptors: the rest stay with polling
LOG_EVERY = 10.0  # seconds between two log lines about misbehaving clients
RESUME_CHECK = 0.1  # seconds between checks for a free slot while accepting is paused


def connection_limit(fd_limit: int | None = None) -> int:
    """How many HTTP connections to admit under the process's open-file limit."""
    if fd_limit is None:
        fd_limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if fd_limit == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, fd_limit // FD_SHARE))


class RateLimitedLog:
    """Logs at most one line per LOG_EVERY seconds, saying how many were held back."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next = -math.inf
        self.held_back = 0

    def __call__(self, level: int, message: str, *args: object) -> None:
        now = self._clock()
        if now < self._next:
            self.held_back += 1
            return
        self._next = now + LOG_EVERY
        if self.held_back:
            message += " (and %d more like it since the last such line)"
            args = (*args, self.held_back)
            self.held_back = 0
        log.log(level, message, *args)


class BadRequests(logging.Filter):
    """On aiohttp's server logger: a request it could not parse (a 70 KB header line, bytes
    that are not HTTP) becomes one rate-limited WARNING line instead of an ERROR traceback.
    Anything else aiohttp logs (a bug in a handler) passes unchanged, traceback and all."""

    def __init__(self) -> None:
        super().__init__()
        self.log = RateLimitedLog()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        self.log(logging.WARNING, "bad HTTP request from %s: %s", remote, _brief(exc))
        return False


def _brief(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # the offending bytes can hold newlines
    return f"{type(exc).__name__}: {text[:120]}{'...' if len(text) > 120 else ''}"


class BoundedListener:
    """Listens for aiohttp's server, accepting only while fewer than `limit` connections are
    open. At the limit it stops accepting: new clients wait in the kernel's backlog (and
    connect once a slot frees up) instead of each taking a descriptor to be refused with."""

    def __init__(self, server: web.Server, limit: int, ssl: SSLContext | None = None) -> None:
        self.server, self.limit, self.ssl = server, limit, ssl
        self.paused_times = 0  # how often the limit was reached
        self._sockets: list[socket.socket] = []
        self._handshakes: set[asyncio.Task[None]] = set()  # accepted, not yet served
        self._log = RateLimitedLog()

    @property
    def open_connections(self) -> int:
        return len(self.server.connections) + len(self._handshakes)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [sock.getsockname()[:2] for sock in self._sockets]

    async def start(self, host: str | None, port: int) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                self._sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # one socket per family, as asyncio does
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(address)
                except OSError as exc:  # worded as asyncio's create_server words it
                    raise OSError(
                        exc.errno,
                        f"error while attempting to bind on address {address!r}: "
                        f"{(exc.strerror or str(exc)).lower()}",
                    ) from None
                sock.listen(min(self.limit, socket.SOMAXCONN))
                sock.setblocking(False)
        except OSError:
            self.close()
            raise
        for sock in self._sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while self.open_connections < self.limit:
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors after all, or the client gave up
                self._log(logging.WARNING, "accepting an HTTP connection failed: %s", exc)
                break
            conn.setblocking(False)
            task = loop.create_task(self._serve(conn))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)
        self.paused_times += 1
        self._log(
            logging.WARNING,
            "%d HTTP connections open, the limit: new ones wait until one closes",
            self.open_connections,
        )
        loop.remove_reader(sock.fileno())
        loop.call_later(RESUME_CHECK, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        if sock.fileno() == -1:  # closed meanwhile
            return
        loop = asyncio.get_running_loop()
        if self.open_connections < self.limit:
            loop.add_reader(sock.fileno(), self._accept, sock)
        else:
            loop.call_later(RESUME_CHECK, self._resume, sock)

    async def _serve(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self.ssl is None:
                await loop.connect_accepted_socket(self.server, conn)
            else:  # a client that never finishes its handshake does not keep the slot either
                await loop.connect_accepted_socket(
                    self.server, conn, ssl=self.ssl, ssl_handshake_timeout=IDLE_TIMEOUT
                )
        except (OSError, TimeoutError) as exc:  # a TLS handshake that failed or never came
            conn.close()
            self._log(logging.WARNING, "an HTTP connection failed before its request: %s", exc)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Stop listening; the connections already open are the runner's to close."""
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            if sock.fileno() != -1:
                loop.remove_reader(sock.fileno())
                sock.close()
        self._sockets.clear()

    async def aclose(self) -> None:
        self.close()
        for task in list(self._handshakes):
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)
