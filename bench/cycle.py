"""Core figures of the poll loop, each measured through the product (the `sensorpoll` CLI):

1. concurrency: 1,000 simulated devices of ~100 ms each, the first the slowest; one cycle's
   duration against the slowest device's latency (must be <= 1.2x), and config order kept.
2. jitter: 100 devices at 10 Hz under `sensorpoll run` for a minute; cycle-start offsets from
   the grid (p99 must be <= 2 ms), drift, skipped cycle numbers -- read from the jsonl sink.
3. footprint: 1,000 devices x 5 fields at 10 Hz: RSS (<= 80 MB) and its growth over minutes
   (<= 2%); 10 devices at 1 Hz: CPU (<= 1% of one core).
4. 10,000 devices of 50-100 ms at 1 Hz, 500 ms deadline: `once` reads all; `run`, scraped every
   second: every device read each cycle, cycle <= 1.2x its slowest device, CPU <= 25% of one
   core, the cycles' start offsets from the grid.

Usage: python bench/cycle.py [--jitter-seconds 60] [--rss-seconds 180] [--cpu-seconds 60]
                             [--ten-thousand-seconds 30] [--only PART]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

SENSORPOLL = [sys.executable, "-m", "sensorpoll"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def devices(count: int, fields: int, latency: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": f"dev{i:04d}",
            "driver": "simulated",
            "latency": latency,
            "fields": [
                {"name": f"f{j}", "waveform": "sine", "min": 0, "max": 10, "period": "60s"}
                for j in range(fields)
            ],
        }
        for i in range(count)
    ]


def write_config(tmp: Path, name: str, config: dict[str, Any]) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def once(path: Path) -> tuple[dict[str, Any], int]:
    """The cycle `sensorpoll once` reads with the config at `path`, and its exit code."""
    proc = subprocess.run(
        [*SENSORPOLL, "once", "-c", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    cycle: dict[str, Any] = json.loads(proc.stdout)
    return cycle, proc.returncode


def concurrency(tmp: Path) -> bool:
    devs = devices(1000, 1, {"min": "90ms", "max": "100ms"})
    devs[0]["latency"] = "110ms"  # the first device is the slowest
    path = write_config(tmp, "concurrency", {"interval": "1s", "timeout": "500ms", "devices": devs})
    cycle, code = once(path)
    slowest = max(d["duration_s"] for d in cycle["devices"])
    order = [d["device"] for d in cycle["devices"]] == [d["name"] for d in devs]
    all_ok = all(d["ok"] for d in cycle["devices"])
    ratio = cycle["duration_s"] / 0.110
    print("1. concurrency: 1000 simulated devices, latency 90-100 ms, first device 110 ms")
    print(f"   baseline  slowest device latency       110.0 ms (read took {slowest * 1000:.1f} ms)")
    print(f"   figure    one cycle                    {cycle['duration_s'] * 1000:.1f} ms")
    print(f"   ratio     cycle / slowest latency      {ratio:.3f}x   (limit 1.2x)")
    print(f"   config order kept: {order}; all {len(devs)} ok: {all_ok}; exit {code}")
    return ratio <= 1.2 and order and all_ok


class Daemon:
    def __init__(self, tmp: Path, name: str, config: dict[str, Any]) -> None:
        self.sink = tmp / f"{name}.jsonl"
        config = {**config, "sinks": [{"type": "jsonl", "path": str(self.sink)}]}
        path = write_config(tmp, name, config)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                *SENSORPOLL,
                "run",
                "-c",
                str(path),
                "--listen",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            stderr=subprocess.DEVNULL,
        )

    def cycles(self) -> list[dict[str, Any]]:
        if not self.sink.exists():
            return []
        return [json.loads(line) for line in self.sink.read_text().splitlines() if line]

    def wait_for_cycles(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.cycles()) < n:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("daemon did not produce cycles")
            time.sleep(0.2)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


def iso_to_epoch(text: str) -> float:
    from datetime import datetime

    return (
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
        .replace(tzinfo=__import__("datetime").UTC)
        .timestamp()
    )


def jitter(tmp: Path, seconds: float) -> bool:
    interval = 0.1
    daemon = Daemon(
        tmp,
        "jitter",
        {
            "interval": "100ms",
            "timeout": "50ms",
            "devices": devices(100, 2, {"min": "1ms", "max": "20ms"}),
        },
    )
    daemon.wait_for_cycles(1)
    time.sleep(seconds)
    code = daemon.stop()
    cycles = daemon.cycles()
    starts = [iso_to_epoch(c["started"]) for c in cycles]
    numbers = [c["cycle"] for c in cycles]
    # the grid is aligned to wall-clock multiples of the interval: offset = start mod interval
    offsets = [((s + interval / 2) % interval - interval / 2) * 1000 for s in starts]
    n = len(offsets)
    p50 = statistics.median(offsets)
    p99 = sorted(offsets)[min(n - 1, int(n * 0.99))]
    slope = statistics.linear_regression(list(range(n)), offsets).slope * n  # ms over the run
    expected = round((starts[-1] - starts[0]) / interval) + 1
    gaps = sum(1 for a, b in itertools.pairwise(numbers) if b != a + 1)
    print(
        f"2. jitter: 100 devices at 10 Hz for {seconds:.0f} s under `sensorpoll run` (jsonl sink)"
    )
    print(
        f"   cycles {n} (grid points in that time {expected}), numbers {numbers[0]}..{numbers[-1]}"
    )
    print(
        f"   start offset from grid: p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {max(offsets):.3f} ms"
        "   (limit p99 2 ms)"
    )
    print(
        f"   drift of offsets over the run: {slope:+.3f} ms;  skipped cycle numbers: {gaps};"
        f"  missed grid points: {expected - n};  exit {code}"
    )
    return p99 <= 2.0 and gaps == 0 and abs(slope) < 1.0 and expected == n


def footprint(tmp: Path, rss_seconds: float, cpu_seconds: float) -> bool:
    big = Daemon(
        tmp,
        "rss",
        {
            "interval": "100ms",
            "timeout": "80ms",
            "devices": devices(1000, 5, "1ms"),
        },
    )
    big.wait_for_cycles(20)
    time.sleep(10)  # past start-up: imports, first renders
    samples = [(0.0, big.rss_kib())]
    start = time.monotonic()
    while time.monotonic() - start < rss_seconds:
        time.sleep(5)
        samples.append((time.monotonic() - start, big.rss_kib()))
    made = len(big.cycles())
    big.stop()
    first, last, peak = samples[0][1], samples[-1][1], max(s[1] for s in samples)
    growth = (last - first) / first * 100
    print(
        f"3a. footprint: 1000 devices x 5 fields at 10 Hz, RSS over {rss_seconds:.0f} s "
        f"({made} cycles)"
    )
    print(
        f"   RSS after warm-up {first / 1024:.1f} MB, at end {last / 1024:.1f} MB, peak "
        f"{peak / 1024:.1f} MB   (limit 80 MB)"
    )
    print(f"   growth {growth:+.2f}%   (limit 2%)")

    small = Daemon(
        tmp,
        "cpu",
        {
            "interval": "1s",
            "devices": devices(10, 5, "5ms"),
        },
    )
    small.wait_for_cycles(3)
    cpu0, t0 = small.cpu_seconds(), time.monotonic()
    time.sleep(cpu_seconds)
    cpu1, t1 = small.cpu_seconds(), time.monotonic()
    small.stop()
    share = (cpu1 - cpu0) / (t1 - t0) * 100
    print(
        f"3b. footprint: 10 devices at 1 Hz for {cpu_seconds:.0f} s: "
        f"CPU {cpu1 - cpu0:.2f} s = {share:.2f}% of one core   (limit 1%)"
    )
    return peak / 1024 <= 80 and growth <= 2 and share <= 1.0


def ten_thousand(tmp: Path, seconds: float) -> bool:
    """10,000 simulated devices of 50-100 ms at 1 Hz, 500 ms deadline: `once` reads them all;
    under `run`, scraped every second, each cycle within 1.2x its slowest device, at most 25%
    of one core, cycle starts on the grid."""
    config = {
        "interval": "1s",
        "timeout": "500ms",
        "devices": devices(10000, 2, {"min": "50ms", "max": "100ms"}),
    }
    path = write_config(tmp, "ten_thousand_once", config)
    first, _ = once(path)
    once_ok = sum(d["ok"] for d in first["devices"])
    print("4. 10,000 simulated devices, latency 50-100 ms, timeout 500 ms, 1 Hz")
    took = first["duration_s"] * 1000
    print(f"   once: {once_ok} of {len(first['devices'])} read, cycle {took:.0f} ms   (limit: all)")
    daemon = Daemon(tmp, "ten_thousand_run", config)
    daemon.wait_for_cycles(3, timeout=120)
    cpu0, t0 = daemon.cpu_seconds(), time.monotonic()
    skip = len(daemon.cycles())
    scrapes, scrape_ms = 0, []
    while time.monotonic() - t0 < seconds:  # a Prometheus scraping every second meanwhile
        start = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=10) as r:
            r.read()
        scrape_ms.append((time.monotonic() - start) * 1000)
        scrapes += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
    cpu1, t1 = daemon.cpu_seconds(), time.monotonic()
    code = daemon.stop()
    cycles = daemon.cycles()[skip:]
    share = (cpu1 - cpu0) / (t1 - t0) * 100
    ratios = [c["duration_s"] / max(d["duration_s"] for d in c["devices"]) for c in cycles]
    all_read = [sum(d["ok"] for d in c["devices"]) for c in cycles]
    offsets = sorted(abs(((iso_to_epoch(c["started"]) + 0.5) % 1.0 - 0.5) * 1000) for c in cycles)
    p99 = offsets[min(len(offsets) - 1, int(len(offsets) * 0.99))]
    worst = max(ratios)
    print(
        f"   run: {len(cycles)} cycles in {t1 - t0:.0f} s, /metrics scraped {scrapes} times "
        f"(p50 {statistics.median(scrape_ms):.0f} ms)"
    )
    print(f"   devices read per cycle: min {min(all_read)} of 10000   (limit: all, every cycle)")
    print(
        f"   cycle / its slowest device: median {statistics.median(ratios):.2f}x, worst "
        f"{worst:.2f}x   (limit 1.2x)"
    )
    print(f"   CPU {cpu1 - cpu0:.2f} s = {share:.1f}% of one core   (limit 25%)")
    print(f"   start offset from the grid while scraped: p99 {p99:.2f} ms;  exit {code}")
    return once_ok == 10000 and min(all_read) == 10000 and worst <= 1.2 and share <= 25


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jitter-seconds", type=float, default=60)
    parser.add_argument("--rss-seconds", type=float, default=180)
    parser.add_argument("--cpu-seconds", type=float, default=60)
    parser.add_argument("--ten-thousand-seconds", type=float, default=30)
    parser.add_argument(
        "--only", choices=["concurrency", "jitter", "footprint", "ten_thousand"], help="one part"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        parts = {
            "concurrency": lambda: concurrency(tmp),
            "jitter": lambda: jitter(tmp, args.jitter_seconds),
            "footprint": lambda: footprint(tmp, args.rss_seconds, args.cpu_seconds),
            "ten_thousand": lambda: ten_thousand(tmp, args.ten_thousand_seconds),
        }
        results = [run() for name, run in parts.items() if args.only in (None, name)]
    print("all within limits" if all(results) else "SOME FIGURES OUT OF LIMITS")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
