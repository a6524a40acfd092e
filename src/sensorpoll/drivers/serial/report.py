"""`sensorpoll check` for serial instruments: each port's estimated transfer time per cycle.

Reads validated configs only (flow stage 1 -> 2); the driver's `check_report` calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.serial.config import SerialConfig

ASSUMED_REPLY_BYTES = 32  # for the estimate of line time


def check_report(devices: Sequence[SerialConfig], settings: Settings) -> list[str]:
    """Every port's lines, ports in config order."""
    by_port: dict[str, list[SerialConfig]] = {}
    for device in devices:
        by_port.setdefault(device.port, []).append(device)
    return [line for same_port in by_port.values() for line in bus_report(same_port, settings)]


def bus_report(devices: Sequence[SerialConfig], settings: Settings) -> list[str]:
    """`sensorpoll check`'s lines for one port: estimated transfer time per cycle, and a
    warning when it exceeds the shortest deadline of the devices queueing on it."""
    first = devices[0]
    bits = 1 + first.bytesize + (first.parity != "N") + first.stopbits
    char_time = bits / first.baudrate
    chars = sum(
        len(d.command) * (2 if d.echo else 1) + ASSUMED_REPLY_BYTES + len(d.terminator)
        for d in devices
    )
    line_time = chars * char_time
    deadline = min(settings.deadline(d) for d in devices)
    lines = [
        f"serial bus {first.port} ({first.baudrate} {first.bytesize}{first.parity}"
        f"{first.stopbits:g}): {len(devices)} device(s), ~{line_time * 1000:.0f} ms of "
        f"transfer per cycle (commands + ~{ASSUMED_REPLY_BYTES}-byte replies, without the "
        f"instruments' own response time) of a {settings.interval:g}s interval"
    ]
    if line_time > deadline:
        lines.append(
            f"warning: serial bus {first.port}: its devices queue one after another and need "
            f"~{line_time:.2f}s, longer than the shortest deadline ({deadline:g}s)"
        )
    return lines
