"""Shared by the export tests: configs from YAML text, cycles as values, a running exporter,
and a running `sensorpoll run` process."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path

from sensorpoll.config import Settings, parse_settings
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.drivers import registry
from sensorpoll.drivers.base import Value
from sensorpoll.export.checks import metric_checks
from sensorpoll.export.http import HttpExporter
from sensorpoll.export.sinkmetrics import SinkStats


def settings_from(text: str) -> Settings:
    """A config as `sensorpoll run` would load it, metric checks included."""
    return parse_settings(text, "config.yaml", registry.config_model, extra_checks=metric_checks())


def make_cycle(
    number: int,
    values: Mapping[str, Mapping[str, Value]],
    failed: Mapping[str, str] | None = None,
    *,
    started_monotonic: float = 0.0,
    duration_s: float = 0.02,
    overruns_total: int = 0,
    skipped: frozenset[str] = frozenset(),
) -> Cycle:
    """A finished cycle: `values` for devices that read, `failed` device -> reason."""
    results = [DeviceResult(name, True, None, 0.01, dict(v)) for name, v in values.items()]
    results += [
        DeviceResult(name, False, reason, 0.5, {}, f"{reason} detail", name not in skipped)
        for name, reason in (failed or {}).items()
    ]
    return Cycle(
        number,
        1_800_000_000.0 + number,
        started_monotonic,
        duration_s,
        tuple(results),
        overruns_total,
    )


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, sinks: Sequence[SinkStats] = ()
) -> AsyncIterator[tuple[HttpExporter, str]]:
    """An HttpExporter on a free loopback port (reporting `sinks`); yields it and its URL."""
    exporter = HttpExporter(settings, listen="127.0.0.1:0", sink_stats=lambda: sinks)
    await exporter.start()
    try:
        yield exporter, exporter.addresses[0]
    finally:
        await exporter.aclose()


def get(url: str) -> tuple[int, bytes]:
    """The status and body of a GET of `url`; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def wait_for_first_cycle(url: str, timeout: float = 15.0) -> None:
    """Until the daemon at base URL `url` has published a cycle (`/api/v1/cycle` answers 200):
    it serves HTTP before its first grid point, up to an interval earlier."""
    deadline = time.monotonic() + timeout
    while get(url + "api/v1/cycle")[0] != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"no cycle from {url} within {timeout:g}s")
        time.sleep(0.05)


_SERVING = re.compile(r"serving HTTP on (https?://\S+)")


@contextlib.contextmanager
def sensorpoll_run(config: Path, *extra: str, timeout: float = 15.0) -> Iterator[str]:
    """`sensorpoll run -c config --listen 127.0.0.1:0` as a process; yields its base URL once it
    serves, stops it with SIGTERM after. Its log is `config` with suffix `.log`."""
    log_path = config.with_suffix(".log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sensorpoll",
                "run",
                "-c",
                str(config),
                "--listen",
                "127.0.0.1:0",
                *extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + timeout
        while (match := _SERVING.search(log_path.read_text())) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sensorpoll run did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
