"""`sensorpoll check` for ASCII instruments: per serial port or socket, the queries per cycle
and, for serial ports, the estimated transfer time.

Reads validated configs only (flow stage 1 -> 2); the driver's `check_report` calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import ReportWarning
from sensorpoll.drivers.serial.config import ERROR_QUERY, SerialConfig

ASSUMED_REPLY_BYTES = 32  # for the estimate of line time


def check_report(devices: Sequence[SerialConfig], settings: Settings) -> list[str]:
    """Every line's report (serial ports and sockets), in config order."""
    by_line: dict[str, list[SerialConfig]] = {}
    for device in devices:
        by_line.setdefault(device.bus().key, []).append(device)
    lines: list[str] = []
    for same_line in by_line.values():
        if same_line[0].is_tcp:
            lines += socket_report(same_line)
        else:
            lines += bus_report(same_line, settings)
    return lines


def queries_per_cycle(device: SerialConfig) -> int:
    """Commands the device sends each cycle: its queries, and SYST:ERR? with check_errors."""
    return len(device.all_queries) + device.check_errors


def _sent_bytes(device: SerialConfig) -> int:
    """Characters one reading puts on the line: commands, echoes, handshakes and replies."""
    echo = 2 if device.echo else 1
    total = 0
    for query in device.all_queries:
        total += len(query.command) * echo + ASSUMED_REPLY_BYTES + len(device.terminator)
        total += len(query.expect or "") + len(query.then or "") * echo
    if device.check_errors:
        errors = device.with_line_ending(ERROR_QUERY)
        total += len(errors) * echo + ASSUMED_REPLY_BYTES + len(device.terminator)
    return total


def _queries(count: int) -> str:
    return f"{count} {'query' if count == 1 else 'queries'}"


def _devices(count: int) -> str:
    return f"{count} device{'s' * (count != 1)}"


def socket_report(devices: Sequence[SerialConfig]) -> list[str]:
    """`sensorpoll check`'s line for one host:port: devices and queries; no time estimate,
    since no baud rate applies to a socket."""
    first = devices[0]
    queries = sum(queries_per_cycle(d) for d in devices)
    return [
        f"tcp {first.line_name}: {_devices(len(devices))}, {_queries(queries)} per cycle, one "
        "at a time; the time they take is set by the instrument (and any serial line behind a "
        "device server), not estimated"
    ]


def bus_report(devices: Sequence[SerialConfig], settings: Settings) -> list[str]:
    """`sensorpoll check`'s lines for one port: estimated transfer time per cycle, and a
    warning when it exceeds the shortest deadline of the devices queueing on it."""
    first = devices[0]
    bits = 1 + first.bytesize + (first.parity != "N") + first.stopbits
    char_time = bits / first.baudrate
    line_time = sum(_sent_bytes(d) for d in devices) * char_time
    queries = sum(queries_per_cycle(d) for d in devices)
    deadline = min(settings.deadline(d) for d in devices)
    lines = [
        f"serial bus {first.port} ({first.baudrate} {first.bytesize}{first.parity}"
        f"{first.stopbits:g}): {_devices(len(devices))}, ~{line_time * 1000:.0f} ms of "
        f"transfer per cycle for {_queries(queries)} (commands + ~{ASSUMED_REPLY_BYTES}-byte "
        f"replies, without the instruments' own response time) of a {settings.interval:g}s "
        "interval"
    ]
    if line_time > deadline:
        lines.append(
            ReportWarning(
                f"serial bus {first.port}: its devices queue one after another and need "
                f"~{line_time:.2f}s, longer than the shortest deadline ({deadline:g}s)"
            )
        )
    return lines
