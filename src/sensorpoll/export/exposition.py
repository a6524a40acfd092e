"""Prometheus text exposition of one cycle, rendered once when the cycle finishes.

A pure function of the cycle (plus the counters it accumulates); scrapes are served its bytes.
"""

from __future__ import annotations

from sensorpoll.config.schema import Settings
from sensorpoll.daemon.cycle import Cycle

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_exposition(cycle: Cycle, settings: Settings) -> bytes:
    lines = [
        "# HELP sensorpoll_device_up Whether the device's last read succeeded (1) or not (0).",
        "# TYPE sensorpoll_device_up gauge",
    ]
    lines += [
        f'sensorpoll_device_up{{device="{escape_label_value(d.device)}"}} {int(d.ok)}'
        for d in cycle.devices
    ]
    lines += [
        "# HELP sensorpoll_cycles_total Poll cycles completed since the daemon started.",
        "# TYPE sensorpoll_cycles_total counter",
        f"sensorpoll_cycles_total {cycle.number}",
    ]
    return ("\n".join(lines) + "\n").encode()
