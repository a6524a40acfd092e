"""The MQTT sink: each device's reading of every cycle as one JSON message on its own topic.

`publish` only queues (bounded; when full the oldest messages go, counted); one task connects,
sends and reconnects with backoff, so the poll loop never waits on the broker. The only module
that imports aiomqtt, and only when a config has an mqtt sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import ssl
from collections import deque

import aiomqtt

from sensorpoll.config.schema import MqttSinkSettings, Settings
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.cyclejson import device_message, iso_utc
from sensorpoll.export.sinkmetrics import SinkStats

log = logging.getLogger(__name__)

RECONNECT_MIN = 0.5  # seconds before the first reconnect attempt; doubles up to RECONNECT_MAX
RECONNECT_MAX = 30.0
BROKER_TIMEOUT = 10.0  # seconds for the broker to answer a connect or acknowledge a message
# QoS 1 and 2 wait for the broker's acknowledgement: this many messages in flight at once,
# so a broker a few milliseconds away still takes thousands of messages a second.
IN_FLIGHT = 16
CLOSE_TIMEOUT = 1.0  # seconds a stopping daemon waits for the broker to see it disconnect

Entry = tuple[Cycle, DeviceResult]


class MqttSink:
    """Publishes `topic` (with `{device}` filled in) per device per cycle, JSON payload."""

    def __init__(self, settings: MqttSinkSettings) -> None:
        self.settings = settings
        self._queue: deque[Entry] = deque(maxlen=settings.queue_size)
        self.stats = SinkStats(settings.label, queued=self._queued, connected=False)
        self._waiting = asyncio.Event()  # set while the queue has entries
        self._task: asyncio.Task[None] | None = None
        self._started_text: tuple[int, str] = (0, "")  # the latest cycle's ISO start, made once

    def _queued(self) -> int:
        return len(self._queue)

    @property
    def label(self) -> str:
        return self.settings.label

    async def start(self) -> None:
        # Connecting happens in the sender: an unreachable broker must not delay the start.
        self._task = asyncio.create_task(self._run(), name=f"mqtt-sink {self.label}")

    def publish(self, cycle: Cycle) -> None:
        queue = self._queue
        overflow = len(queue) + len(cycle.devices) - self.settings.queue_size
        if overflow > 0:
            self.stats.dropped += overflow
        queue.extend([(cycle, result) for result in cycle.devices])  # maxlen drops the oldest
        self._waiting.set()

    async def reopen(self) -> None:
        pass  # nothing to rotate

    async def reconfigure(self, settings: Settings) -> None:
        pass  # a changed sink is a new sink: Sinks replaces it

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            # A polite disconnect first; a broker that does not answer gets CLOSE_TIMEOUT.
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._queue:
            log.info("%s: %d queued messages not sent at exit", self.label, len(self._queue))

    async def _run(self) -> None:
        delay = RECONNECT_MIN
        down_since_logged = False
        while True:
            try:
                async with self._client() as client:
                    self.stats.connected = True
                    delay = RECONNECT_MIN
                    if down_since_logged:
                        log.info("%s: connected again", self.label)
                        down_since_logged = False
                    else:
                        log.info("%s: connected", self.label)
                    await self._send_until_disconnected(client)
            except (aiomqtt.MqttError, ssl.SSLError, OSError) as exc:
                # Logged when the broker goes away, and once when it is back; DEBUG meanwhile.
                level = logging.DEBUG if down_since_logged else logging.WARNING
                log.log(level, "%s: %s; reconnecting in up to %.1fs", self.label, exc, delay)
                down_since_logged = True
            except Exception:  # a bug here must not end the sink for the daemon's life
                log.exception("%s: sending failed; reconnecting in up to %.1fs", self.label, delay)
                down_since_logged = True
            finally:
                self.stats.connected = False
            # jitter: many daemons that lost one broker do not all come back at the same instant
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RECONNECT_MAX)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        password = os.environ.get(s.password_env) if s.password_env is not None else None
        return aiomqtt.Client(
            s.host,
            s.broker_port,
            username=s.username,
            password=password,
            identifier=s.client_id,
            timeout=BROKER_TIMEOUT,
            tls_context=_ssl_context(s),
            tls_insecure=s.tls.insecure_skip_verify if s.tls is not None else None,
        )

    async def _send_until_disconnected(self, client: aiomqtt.Client) -> None:
        """Send queued messages until the connection fails (an MqttError is raised)."""
        senders = IN_FLIGHT if self.settings.qos > 0 else 1
        tasks = {asyncio.create_task(_raise_on_disconnect(client))}
        tasks |= {asyncio.create_task(self._sender(client)) for _ in range(senders)}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:  # the first failure ends them all; their unsent messages go back to the queue
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # raises the failure

    async def _sender(self, client: aiomqtt.Client) -> None:
        queue = self._queue
        while True:
            while not queue:
                self._waiting.clear()
                await self._waiting.wait()
            entry = queue.popleft()
            topic, payload = self._message(entry)
            try:
                await client.publish(
                    topic, payload, qos=self.settings.qos, retain=self.settings.retain
                )
            except BaseException:  # not sent (or not acknowledged): back to the front
                if len(queue) < self.settings.queue_size:
                    queue.appendleft(entry)
                    self._waiting.set()
                else:  # the queue filled up meanwhile: this one is now the oldest
                    self.stats.dropped += 1
                raise
            self.stats.published += 1

    def _message(self, entry: Entry) -> tuple[str, bytes]:
        cycle, result = entry
        number, started = self._started_text
        if number != cycle.number:
            started = iso_utc(cycle.started)
            self._started_text = (cycle.number, started)
        topic = self.settings.topic.replace("{device}", result.device)
        return topic, device_message(cycle, result, started)


async def _raise_on_disconnect(client: aiomqtt.Client) -> None:
    # aiomqtt ends its message iterator with MqttError when the connection drops; nothing is
    # subscribed, so this only waits for that (and so stops the senders waiting for a reply).
    async for _ in client.messages:
        pass
    raise aiomqtt.MqttError("disconnected")


def _ssl_context(settings: MqttSinkSettings) -> ssl.SSLContext | None:
    tls = settings.tls
    if tls is None:
        return None
    cafile = str(tls.ca_file) if tls.ca_file is not None else None
    context = ssl.create_default_context(cafile=cafile)
    context.sslsocket_class = _ClosedOnFailedHandshake
    if tls.cert_file is not None and tls.key_file is not None:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _ClosedOnFailedHandshake(ssl.SSLSocket):
    """paho-mqtt leaves the socket of a failed TLS handshake (an untrusted broker) open until
    the garbage collector finds it: one descriptor per reconnect attempt. Closed at once here,
    through `SSLContext.sslsocket_class`, which exists for such subclasses."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise
