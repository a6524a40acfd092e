"""The MQTT sink against a real mosquitto on loopback: topics and payloads, retain, TLS with a
self-signed certificate, a password from the environment, and a bounded, counted queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sensorpoll.config.schema import MqttSinkSettings
from sensorpoll.export.mqtt import MqttSink
from sensorpoll.export.sinks import Sinks
from tests.conftest import REPO, require_tool
from tests.export.helpers import make_cycle, sensorpoll_run, settings_from
from tests.export.mosquitto import Broker, running, subscribed


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running(Broker(tmp_path)) as started:
        yield started


def sink_settings(broker: Broker, **keys: Any) -> MqttSinkSettings:
    return MqttSinkSettings.model_validate(
        {"type": "mqtt", "host": "127.0.0.1", "port": broker.port, "topic": "lab/{device}", **keys}
    )


@contextlib.asynccontextmanager
async def started(settings: MqttSinkSettings) -> AsyncIterator[MqttSink]:
    sink = MqttSink(settings)
    await sink.start()
    try:
        yield sink
    finally:
        await sink.aclose()


async def until(condition: Any) -> None:
    """Polls `condition` (a counter of the sink, a broker log line) for up to 15 s."""
    async with asyncio.timeout(15):
        while not condition():  # noqa: ASYNC110 (what is polled has no event to wait on)
            await asyncio.sleep(0.02)


CYCLE = make_cycle(7, {"chiller": {"supply_temperature": 12.5, "pump_on": True}}, {"oven": "crc"})


async def test_each_device_reading_arrives_as_json_on_its_own_topic(broker: Broker) -> None:
    async with subscribed(broker, "lab/#") as subscriber, started(sink_settings(broker)) as sink:
        sink.publish(CYCLE)
        messages = await subscriber.wait_for(2)
    by_topic = {m.topic: m.payload for m in messages}
    assert by_topic == {
        "lab/chiller": {
            "cycle": 7,
            "started": "2027-01-15T08:00:07.000000Z",
            "device": "chiller",
            "ok": True,
            "error": None,
            "duration_s": 0.01,
            "values": {"supply_temperature": 12.5, "pump_on": True},
        },
        "lab/oven": {
            "cycle": 7,
            "started": "2027-01-15T08:00:07.000000Z",
            "device": "oven",
            "ok": False,
            "error": "crc",
            "duration_s": 0.5,
            "values": {},
        },
    }
    assert sink.stats.published == 2


async def test_messages_of_one_device_arrive_in_cycle_order(broker: Broker) -> None:
    settings = sink_settings(broker, qos=1)
    async with subscribed(broker, "lab/#") as subscriber, started(settings) as sink:
        for number in range(1, 51):
            sink.publish(make_cycle(number, {"chiller": {"t": float(number)}}))
        messages = await subscriber.wait_for(50)
    assert [m.payload["cycle"] for m in messages] == list(range(1, 51))


async def test_retain_keeps_each_devices_latest_message_for_a_later_subscriber(
    broker: Broker,
) -> None:
    async with started(sink_settings(broker, retain=True, qos=1)) as sink:
        sink.publish(make_cycle(1, {"chiller": {"t": 1.0}}))
        sink.publish(make_cycle(2, {"chiller": {"t": 2.0}}))
        await until(lambda: sink.stats.published == 2)
    async with subscribed(broker, "lab/#") as subscriber:
        (message,) = await subscriber.wait_for(1)
    assert (message.topic, message.payload["cycle"], message.retain) == ("lab/chiller", 2, True)


async def test_a_full_queue_drops_the_oldest_messages_and_counts_them(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    sink = MqttSink(sink_settings(broker, qos=1, queue_size=3))  # not connected yet: it queues
    for number in (1, 2, 3):  # two devices a cycle: six messages for a queue of three
        sink.publish(make_cycle(number, {"a": {"t": 1.0}, "b": {"t": 2.0}}))
    assert sink.stats.queued is not None
    assert (sink.stats.dropped, sink.stats.queued()) == (3, 3)
    with running(broker):
        async with subscribed(broker, "lab/#") as subscriber:
            await sink.start()
            try:
                await subscriber.wait_for(3)
                await until(lambda: sink.stats.published == 3)
            finally:
                await sink.aclose()
    kept = sorted((m.payload["cycle"], m.payload["device"]) for m in subscriber.messages)
    assert kept == [(2, "b"), (3, "a"), (3, "b")]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), made by openssl."""
    cert, key = directory / "broker.crt", directory / "broker.key"
    subprocess.run(
        [require_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_to_a_broker_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    with running(Broker(tmp_path, tls=(cert, key))) as broker:
        settings = sink_settings(broker, tls={"ca_file": str(cert)})
        async with (
            subscribed(broker, "lab/#", tls_context=trusted) as subscriber,
            started(settings) as sink,
        ):
            sink.publish(CYCLE)
            messages = await subscriber.wait_for(2)
    assert sorted(m.topic for m in messages) == ["lab/chiller", "lab/oven"]
    assert sink.settings.label == f"mqtts://127.0.0.1:{broker.port}/lab/{{device}}"


async def test_tls_refuses_a_broker_certificate_not_signed_by_the_ca_file(
    tmp_path: Path,
) -> None:
    cert, key = make_certificate(tmp_path)
    (tmp_path / "other").mkdir()
    other, _ = make_certificate(tmp_path / "other")
    with running(Broker(tmp_path, tls=(cert, key))) as broker:
        async with started(sink_settings(broker, tls={"ca_file": str(other)})) as sink:
            sink.publish(CYCLE)
            await until(lambda: "certificate" in broker.log() or "SSL" in broker.log())
            assert (sink.stats.connected, sink.stats.published) == (False, 0)


async def test_username_and_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_MQTT_PASSWORD", "s3cret word")
    with running(Broker(tmp_path, users={"sensorpoll": "s3cret word"})) as broker:
        client = {"username": "sensorpoll", "password": "s3cret word"}
        async with subscribed(broker, "lab/#", **client) as subscriber:
            settings = sink_settings(
                broker, username="sensorpoll", password_env="TEST_MQTT_PASSWORD"
            )
            async with started(settings) as sink:
                sink.publish(CYCLE)
                messages = await subscriber.wait_for(2)
    assert len(messages) == 2


async def test_a_wrong_password_is_refused_and_nothing_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_MQTT_PASSWORD", "wrong")
    with running(Broker(tmp_path, users={"sensorpoll": "s3cret"})) as broker:
        settings = sink_settings(broker, username="sensorpoll", password_env="TEST_MQTT_PASSWORD")
        async with started(settings) as sink:
            sink.publish(CYCLE)
            await until(lambda: "not authorised" in broker.log())
            assert (sink.stats.connected, sink.stats.published) == (False, 0)


async def test_sink_metrics_name_each_sink(broker: Broker, tmp_path: Path) -> None:
    settings = settings_from(
        f"""\
devices:
  - {{name: a, driver: simulated, fields: [{{name: t, value: 1}}]}}
sinks:
  - {{type: mqtt, host: 127.0.0.1, port: {broker.port}, topic: "lab/{{device}}"}}
  - {{type: jsonl, path: {tmp_path}/r.jsonl}}
"""
    )
    sinks = Sinks(settings)
    await sinks.start()
    try:
        sinks.publish(make_cycle(1, {"a": {"t": 1}}))
        mqtt, jsonl = sinks.stats()
        await until(lambda: mqtt.published == 1)
    finally:
        await sinks.aclose()
    assert mqtt.label == f"mqtt://127.0.0.1:{broker.port}/lab/{{device}}"
    assert (jsonl.label, jsonl.published, jsonl.dropped) == (f"jsonl:{tmp_path}/r.jsonl", 1, 0)


def test_aiomqtt_is_imported_only_for_a_config_with_an_mqtt_sink(tmp_path: Path) -> None:
    script = """\
import sys
from sensorpoll.export.sinks import Sinks
from tests.export.helpers import settings_from
Sinks(settings_from("devices: [{name: a, driver: simulated, fields: [{name: t, value: 1}]}]"))
print("aiomqtt" in sys.modules)
Sinks(settings_from('''
devices: [{name: a, driver: simulated, fields: [{name: t, value: 1}]}]
sinks: [{type: mqtt, host: 127.0.0.1}]
'''))
print("aiomqtt" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert result.stdout.split() == ["False", "True"]


def jsonl_cycles(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


async def until_cycle(path: Path, number: int) -> list[dict[str, Any]]:
    await until(lambda: len(jsonl_cycles(path)) >= number)
    return jsonl_cycles(path)


def sample(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", metrics, re.MULTILINE)
    assert match is not None, f"{name} not in\n{metrics}"
    return float(match.group(1))


def two_devices_to_mqtt_and_jsonl(interval: float, port: int, queue_size: int, log: Path) -> str:
    """Two simulated devices every `interval`, published at QoS 1 to the broker on `port` and
    logged to `log`: the jsonl log is what the broker should have received."""
    return f"""\
interval: {interval}s
timeout: 100ms
devices:
  - {{name: a, driver: simulated, fields: [{{name: t, value: 1}}]}}
  - {{name: b, driver: simulated, fields: [{{name: t, value: 2}}]}}
sinks:
  - {{type: mqtt, host: 127.0.0.1, port: {port}, topic: "lab/{{device}}", qos: 1,
      queue_size: {queue_size}}}
  - {{type: jsonl, path: {log}}}
"""


async def test_a_broker_outage_loses_only_what_overflows_the_queue_counted_and_the_grid_holds(
    broker: Broker, tmp_path: Path
) -> None:
    interval, queue_size = 0.2, 6
    log = tmp_path / "cycles.jsonl"
    config = tmp_path / "config.yaml"
    config.write_text(two_devices_to_mqtt_and_jsonl(interval, broker.port, queue_size, log))
    async with subscribed(broker, "lab/#") as subscriber:
        with sensorpoll_run(config) as url:
            await subscriber.wait_for(6)
            broker.stop()
            before_stop = max(m.payload["cycle"] for m in subscriber.messages)
            stopped_at = len(await until_cycle(log, 1))
            # 2 messages a cycle: 12 cycles down are 24 messages for a queue of 6
            restarted_at = len(await until_cycle(log, stopped_at + 12))
            broker.start()
            await until(lambda: any(m.payload["cycle"] > restarted_at for m in subscriber.messages))
            # reconnected: wait for messages published after that too, so nothing is in flight
            reconnected_at = len(jsonl_cycles(log))
            await until(
                lambda: any(m.payload["cycle"] > reconnected_at + 2 for m in subscriber.messages)
            )
            async with aiohttp.ClientSession() as http, http.get(url + "metrics") as response:
                metrics = await response.text()
            cycles = jsonl_cycles(log)
    label = f'sink="mqtt://127.0.0.1:{broker.port}/lab/{{device}}"'
    dropped = sample(metrics, f"sensorpoll_sink_dropped_total{{{label}}}")
    received = {(m.payload["cycle"], m.payload["device"]) for m in subscriber.messages}
    last = max(number for number, _ in received)
    sent = {(c["cycle"], d["device"]) for c in cycles if c["cycle"] <= last for d in c["devices"]}
    missing = sent - received
    assert dropped > 0  # the queue did overflow
    assert dropped > 0  # the queue did overflow
    assert len(missing) <= dropped  # nothing lost without being counted
    # what was lost is one run of the oldest messages of the outage, none before or after it
    lost = sorted({number for number, _ in missing})
    assert lost == list(range(lost[0], lost[-1] + 1)), lost
    assert lost[0] > before_stop, (lost, before_stop)
    assert all(number > lost[-1] for number, _ in received if number >= lost[0]), lost
    assert_on_the_grid(cycles, interval, metrics)


def assert_on_the_grid(cycles: list[dict[str, Any]], interval: float, metrics: str) -> None:
    """Consecutive cycles, each starting within half an interval of its own grid point."""
    numbers = [c["cycle"] for c in cycles]
    assert numbers == list(range(1, len(numbers) + 1))
    starts = [datetime.fromisoformat(c["started"]).timestamp() for c in cycles]
    slots = [(start - starts[0]) / interval for start in starts]
    assert all(abs(slot - i) < 0.5 for i, slot in enumerate(slots)), slots
    assert sample(metrics, "sensorpoll_cycle_overruns_total") == 0


async def test_a_broker_that_accepts_but_never_answers_holds_up_nothing(tmp_path: Path) -> None:
    interval, queue_size = 0.2, 4
    log = tmp_path / "cycles.jsonl"
    config = tmp_path / "config.yaml"
    with socket.socket() as silent:  # the kernel completes the handshake; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        config.write_text(two_devices_to_mqtt_and_jsonl(interval, port, queue_size, log))
        with sensorpoll_run(config) as url:
            await until_cycle(log, 15)
            async with aiohttp.ClientSession() as http, http.get(url + "metrics") as response:
                metrics = await response.text()
            cycles = jsonl_cycles(log)
    label = f'sink="mqtt://127.0.0.1:{port}/lab/{{device}}"'
    assert sample(metrics, f"sensorpoll_sink_connected{{{label}}}") == 0
    assert sample(metrics, f"sensorpoll_sink_queued_messages{{{label}}}") == queue_size
    published = 2 * sample(metrics, "sensorpoll_cycles_total")
    assert sample(metrics, f"sensorpoll_sink_dropped_total{{{label}}}") == published - queue_size
    assert_on_the_grid(cycles, interval, metrics)


async def test_a_reload_keeps_an_unchanged_sink_and_its_counters(tmp_path: Path) -> None:
    broker = Broker(tmp_path)  # never started: the sink only queues and counts
    text = f"""\
devices:
  - {{name: a, driver: simulated, fields: [{{name: t, value: 1}}]}}
sinks:
  - {{type: mqtt, host: 127.0.0.1, port: {broker.port}, topic: "lab/{{device}}", queue_size: 1}}
"""
    sinks = Sinks(settings_from(text))
    await sinks.start()
    try:
        sinks.publish(make_cycle(1, {"a": {"t": 1}}))
        sinks.publish(make_cycle(2, {"a": {"t": 1}}))
        (before,) = sinks.stats()
        await sinks.reconfigure(settings_from(text))
        (kept,) = sinks.stats()
        await sinks.reconfigure(settings_from(text.replace("queue_size: 1", "queue_size: 2")))
        (replaced,) = sinks.stats()
    finally:
        await sinks.aclose()
    assert kept is before
    assert kept.dropped == 1
    assert replaced is not before
    assert replaced.dropped == 0
