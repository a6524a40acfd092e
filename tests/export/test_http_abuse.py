"""HTTP under abuse: malformed requests, clients that never finish a request, and more
connections than the process has descriptors for. Polling must not notice any of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from sensorpoll.export import http
from tests.conftest import free_port
from tests.export.helpers import make_cycle, serving, settings_from

CONFIG = (
    "interval: 1s\ndevices:\n  - {name: pump, driver: simulated, fields: [{name: x, value: 1}]}\n"
)
MALFORMED = [
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /\xff\x00\x7f%%%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nBad Header Line\r\n\r\n",
]


async def send_raw(url: str, data: bytes) -> bytes:
    """What the server answers `data` with before it closes the connection."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_malformed_requests_are_answered_400_and_logged_briefly_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with serving(settings_from(CONFIG)) as (exporter, url):
            exporter.publish(make_cycle(1, {"pump": {"x": 1}}))
            answers = [await send_raw(url, data) for _ in range(10) for data in MALFORMED]
            async with aiohttp.ClientSession() as client, client.get(url + "metrics") as response:
                assert response.status == 200, "the server stopped serving"
    statuses = [a.split(b" ", 2)[1] if a else b"closed" for a in answers]
    assert set(statuses) <= {b"400", b"closed"}, statuses
    assert statuses.count(b"400") >= len(MALFORMED)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in problems if r.exc_info], "a traceback was logged"
    assert not [r for r in problems if r.levelno >= logging.ERROR]
    # 50 bad requests in well under LOG_EVERY seconds: one line says so
    assert [r.getMessage()[:20] for r in problems] == ["bad HTTP request fro"]


async def test_a_client_that_never_finishes_its_request_is_disconnected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http, "IDLE_TIMEOUT", 0.5)
    async with serving(settings_from(CONFIG)) as (_, url):
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        trickled = 0
        try:  # slowloris: one header byte every 50 ms, never the blank line that ends them
            while trickled < 200:  # 10 s, 20 idle timeouts
                writer.write(b"X")
                await writer.drain()
                trickled += 1
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(1), 0.05) == b"":
                        break
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
    assert trickled < 200, "a request that never ends kept its connection"


async def test_an_idle_keep_alive_connection_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "IDLE_TIMEOUT", 0.5)
    async with serving(settings_from(CONFIG)) as (exporter, url):
        exporter.publish(make_cycle(1, {"pump": {"x": 1}}))
        connector = aiohttp.TCPConnector(keepalive_timeout=60)
        async with aiohttp.ClientSession(connector=connector) as client:
            async with client.get(url + "metrics") as response:
                await response.read()
            assert exporter.listener is not None
            assert exporter.listener.open_connections == 1
            # a long way past nothing: the idle timeout ends it, not the client
            for _ in range(int(40 * http.IDLE_TIMEOUT)):
                if not exporter.listener.open_connections:
                    break
                await asyncio.sleep(0.05)
            assert not exporter.listener.open_connections


def image(value: int) -> UnitImage:
    unit = UnitImage()
    unit.tables["holding"][0] = value
    return unit


def limit_open_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


async def test_a_connection_flood_cannot_take_the_descriptors_polling_needs(
    tmp_path: Path,
) -> None:
    slave = await SimulatedSlave.tcp({1: image(7)})
    modbus_port, http_port = slave.port, free_port()
    data_log = tmp_path / "readings.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""interval: 100ms
http: {{listen: "127.0.0.1:{http_port}"}}
sinks: [{{type: jsonl, path: {data_log}}}]
devices:
  - {{name: meter, driver: modbus, transport: tcp, host: 127.0.0.1, port: {modbus_port},
     unit_id: 1, fields: [{{name: value, table: holding, address: 0, type: uint16}}]}}
"""
    )
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        daemon = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "sensorpoll", "run", "-c", str(config)),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: limit_open_files(256),  # HTTP gets a quarter: 64
        )
    flood: list[socket.socket] = []
    try:
        await until(lambda: meter_ok(data_log), "the meter never read")
        await slave.aclose()
        await until(lambda: not meter_ok(data_log), "the meter did not go down")
        for _ in range(600):  # far more than the 256 descriptors the daemon has
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", http_port))
            flood.append(sock)
        await asyncio.sleep(1.0)  # the daemon accepts (and refuses) what it can
        slave = await SimulatedSlave.tcp({1: image(8)}, port=modbus_port)
        await until(lambda: meter_ok(data_log, value=8), "the meter could not reconnect")
        for sock in flood:
            sock.close()
        flood.clear()
        await until(lambda: metrics_answer(http_port), "/metrics did not come back")
    finally:
        for sock in flood:
            sock.close()
        daemon.terminate()
        await asyncio.wait_for(daemon.wait(), 10)
        await slave.aclose()
    text = log_path.read_text()
    assert text.count("out of system resource") <= 1, text[-2000:]
    assert text.count("HTTP connections open, the limit") <= 2
    assert "Traceback" not in text


async def until(condition: Callable[[], bool], failure: str) -> None:
    """Wait for `condition`; a generous bound, only so a broken daemon fails the test."""
    try:
        async with asyncio.timeout(15):
            while not condition():  # noqa: ASYNC110 - polling another process
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(failure) from None


def meter_ok(data_log: Path, value: int | None = None) -> bool:
    try:
        last = data_log.read_text().splitlines()[-1]
    except (FileNotFoundError, IndexError):
        return False
    (meter,) = json.loads(last)["devices"]
    return bool(meter["ok"]) and (value is None or meter["values"]["value"] == value)


def metrics_answer(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(12) == b"HTTP/1.1 200"
    except OSError:
        return False
