"""A real mosquitto broker for the MQTT sink's tests: started on a free loopback port with a
generated config (optionally TLS and a password file), stoppable and restartable on that port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from tests.conftest import free_port, require_tool


@dataclass
class Broker:
    directory: Path
    tls: tuple[Path, Path] | None = None  # certificate and key of the listener
    users: dict[str, str] = field(default_factory=dict)  # empty: anonymous clients allowed
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        mosquitto = require_tool("mosquitto")
        lines = [
            f"listener {self.port} 127.0.0.1",
            "user root",  # run as root (the tests are): stay root, so it can read the tmp dir
            "persistence true",  # a restarted broker keeps the test subscriber's session
            f"persistence_location {self.directory}/",
            f"log_dest file {self.directory}/mosquitto.log",
            "log_type all",
        ]
        if self.tls is not None:
            lines += [f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"]
        if self.users:
            passwords = self.directory / "passwords"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    [require_tool("mosquitto_passwd"), "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [mosquitto, "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not start:\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # saves the persistence file on the way out
            self.process.wait(10)
            self.process = None

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text() if path.exists() else ""


@contextlib.contextmanager
def running(broker: Broker) -> Any:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class Received:
    topic: str
    payload: dict[str, Any]
    retain: bool


class Subscriber:
    """Collects every message under `topic` at QoS 1 in a persistent session, reconnecting
    whenever the broker goes away, so a restarted broker hands over what it kept."""

    def __init__(self, broker: Broker, topic: str, **client: Any) -> None:
        self.broker, self.topic, self.client = broker, topic, client
        self.messages: list[Received] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self.subscribed.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        options = {"identifier": f"test-{self.broker.port}", "clean_session": False}
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.broker.port,
                    queue_type=self._recording_queue(),
                    **{**options, **self.client},
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for _ in client.messages:  # ends with MqttError when disconnected
                        pass
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def _recording_queue(self) -> type[asyncio.Queue[aiomqtt.Message]]:
        # aiomqtt's message iterator stops at a disconnect even with messages still queued
        # (already acknowledged to the broker, so never sent again): record each as it
        # arrives instead, in the queue aiomqtt puts it in.
        messages = self.messages

        class Recording(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                assert isinstance(item.payload, bytes)
                messages.append(Received(str(item.topic), json.loads(item.payload), item.retain))

        return Recording

    async def wait_for(self, count: int) -> list[Received]:
        """At least `count` messages within 15 s, or AssertionError with what did arrive."""
        deadline = time.monotonic() + 15
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.messages)} of {count} messages arrived:\n{self.broker.log()}"
                )
            await asyncio.sleep(0.02)
        return self.messages


@contextlib.asynccontextmanager
async def subscribed(broker: Broker, topic: str, **client: Any) -> AsyncIterator[Subscriber]:
    async with Subscriber(broker, topic, **client) as subscriber:
        yield subscriber
