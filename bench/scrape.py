"""Scrape latency of `/metrics` with 10,000 reading series, against prometheus_client.

1,000 simulated devices x 10 fields, one real cycle. Both sides are served by the same aiohttp
server over loopback and scraped by the same raw-socket client, one scrape at a time:
  baseline: a prometheus_client custom collector over the cycle, `generate_latest` per scrape;
  figure:   sensorpoll's HttpExporter, which renders a cycle once (on its first scrape) and
            serves the bytes.
Also times the per-cycle render (`publish`, then the cycle's first scrape renders), with every
device up and with every tenth one down. Prints baseline, figure and ratio.

    .venv/bin/python bench/scrape.py [--devices 1000] [--fields 10] [--scrapes 300]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import statistics
import sys
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sensorpoll.config import Settings, parse_settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.devices import Devices
from sensorpoll.drivers import registry
from sensorpoll.export.checks import metric_checks, metric_name
from sensorpoll.export.http import HttpExporter


def bench_settings(devices: int, fields: int) -> Settings:
    lines = ["interval: 10s", "metrics: {namespace: lab}", "devices:"]
    for d in range(devices):
        lines += [
            f"  - name: dev{d:04d}",
            "    driver: simulated",
            f"    labels: {{rack: r{d % 20}}}",
        ]
        lines.append("    fields:")
        lines += [
            f"      - {{name: f{f}, unit: celsius, waveform: random_walk, min: 0, max: 100}}"
            for f in range(fields)
        ]
    text = "\n".join(lines) + "\n"
    return parse_settings(text, "bench", registry.config_model, extra_checks=metric_checks())


class CycleCollector(Collector):
    """The baseline: a stateless custom collector over one cycle, as client_python documents."""

    def __init__(self, cycle: Cycle, settings: Settings) -> None:
        self.cycle, self.settings = cycle, settings

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        results = {r.device: r for r in self.cycle.devices}
        for device in self.settings.devices:
            result = results[device.name]
            if not result.ok:
                continue
            names = ["device", *device.labels]
            for field in device.fields:
                name = metric_name(self.settings.metrics.namespace, field)
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(
                        name, f"Reading {field.name}", labels=names
                    )
                value = result.values[field.name]
                family.add_metric([device.name, *device.labels.values()], float(value))
        up = GaugeMetricFamily("sensorpoll_device_up", "device up", labels=["device"])
        for result in self.cycle.devices:
            up.add_metric([result.device], 1.0 if result.ok else 0.0)
        yield from families.values()
        yield up


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams: the same cheap client for both
    sides, so the figures are the servers' cost, not a client library's."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> bytes:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError(f"GET {path}: {head.decode(errors='replace')}")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return await self.reader.readexactly(length)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def scrape_p50(client: RawClient, path: str, scrapes: int) -> tuple[float, int]:
    for _ in range(3):  # warm up connection and caches
        await client.get(path)
    times = []
    size = 0
    for _ in range(scrapes):
        start = time.perf_counter()
        body = await client.get(path)
        times.append(time.perf_counter() - start)
        size = len(body)
    return statistics.median(times), size


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--fields", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--baseline-scrapes", type=int, default=30)
    args = parser.parse_args()

    settings = bench_settings(args.devices, args.fields)
    poller = Devices(settings)
    await poller.open()
    cycles = [await poller.cycle() for _ in range(21)]
    await poller.aclose()
    cycle = cycles[-1]
    series = sum(len(d.values) for d in cycle.devices)

    exporter = HttpExporter(settings, listen="127.0.0.1:0")
    # as `sensorpoll run` does after its setup (daemon/service.py): startup objects out of GC
    gc.collect()
    gc.freeze()
    renders = []
    for c in cycles:
        start = time.perf_counter()
        exporter.publish(c)
        exporter.exposition()  # rendered on a cycle's first scrape: count it here
        renders.append(time.perf_counter() - start)
    render = statistics.median(renders[1:])
    # the same cycles with every tenth device down: its fields have no value (null) this cycle
    down_renders = []
    for c in cycles:
        devices = tuple(
            d._replace(ok=False, error="timeout", values={}) if i % 10 == 0 else d
            for i, d in enumerate(c.devices)
        )
        down = dataclasses.replace(c, devices=devices)
        start = time.perf_counter()
        exporter.publish(down)
        exporter.exposition()
        down_renders.append(time.perf_counter() - start)
    render_down = statistics.median(down_renders[1:])

    baseline_registry = CollectorRegistry(auto_describe=False)
    baseline_registry.register(CycleCollector(cycle, settings))

    async def baseline_metrics(request: web.Request) -> web.Response:
        body = generate_latest(baseline_registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    exporter.app.router.add_get("/baseline", baseline_metrics)
    await exporter.start()
    host, port = exporter.addresses[0].removeprefix("http://").rstrip("/").rsplit(":", 1)
    client = RawClient(host, int(port))
    try:
        ours, ours_size = await scrape_p50(client, "/metrics", args.scrapes)
        theirs, theirs_size = await scrape_p50(client, "/baseline", args.baseline_scrapes)
    finally:
        await client.aclose()
        await exporter.aclose()

    ratio = theirs / ours
    print(f"series: {series} readings ({args.devices} devices x {args.fields} fields)")
    print(
        f"baseline prometheus_client generate_latest per scrape: p50 {theirs * 1000:.2f} ms "
        f"({theirs_size} bytes, {args.baseline_scrapes} scrapes)"
    )
    print(
        f"sensorpoll /metrics (rendered once per cycle):        p50 {ours * 1000:.2f} ms "
        f"({ours_size} bytes, {args.scrapes} scrapes)"
    )
    print(f"ratio: {ratio:.1f}x faster (target >= 10x); p50 target <= 5 ms")
    print(
        f"per-cycle render (publish + first render), median of {len(renders) - 1}: "
        f"{render * 1000:.2f} ms (target < 10 ms)"
    )
    print(
        f"per-cycle render, every tenth device down, median of {len(down_renders) - 1}: "
        f"{render_down * 1000:.2f} ms (target < 10 ms)"
    )
    ok = ratio >= 10 and ours <= 0.005 and render < 0.010 and render_down < 0.010
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
