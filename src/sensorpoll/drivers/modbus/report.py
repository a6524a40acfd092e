"""What `sensorpoll check` prints for Modbus devices: each request plan (with its poll rate),
each serial bus's load, and warnings for addresses that look like a slip.

Bus time per cycle comes from the wire model in `wire.py` and the poll schedule
(`config.rates`), compared against the interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from sensorpoll.config.rates import on_schedule, period, phase
from sensorpoll.config.schema import Settings
from sensorpoll.config.types import format_duration
from sensorpoll.drivers.base import ReportWarning
from sensorpoll.drivers.modbus.config import BIT_TABLES, ModbusConfig, ModbusField
from sensorpoll.drivers.modbus.plan import Request, RequestPlan, device_plan
from sensorpoll.drivers.modbus.wire import TURNAROUND, request_time

WARN_LOAD = 0.8  # share of the interval a serial bus may be busy before `check` warns
MAX_SCHEDULE = 100_000  # grid points of a bus's schedule worth walking to find its busiest


def bus_time(devices: list[ModbusConfig], plans: dict[str, RequestPlan]) -> float:
    """Estimated seconds one cycle's requests occupy a serial line, every request included."""
    total = 0.0
    for device in devices:
        plan = plans[device.name]
        for i, request in enumerate(plan.requests):
            total += request_time(request.count, device.baudrate, bits=request.table in BIT_TABLES)
            if i:
                total += device.pause_between_requests
    return total


@dataclass(frozen=True)
class BusLoad:
    """Seconds of bus time per base cycle under the poll schedule."""

    average: float  # over the whole schedule
    busiest: float  # the most one cycle carries: what has to fit in the interval


def bus_time_per_cycle(
    devices: list[ModbusConfig], plans: dict[str, RequestPlan], base: float
) -> BusLoad:
    """The bus time each cycle costs when every device and field is read at its own rate."""
    items: list[tuple[int, int, float]] = []  # (period, phase, seconds) of each request
    for device in devices:
        device_interval = device.interval if device.interval is not None else base
        offset = phase(device.name)
        for i, request in enumerate(plans[device.name].requests):
            seconds = request_time(request.count, device.baudrate, bits=request.table in BIT_TABLES)
            if i:
                seconds += device.pause_between_requests
            every = period(request.interval or device_interval, base)
            items.append((every, offset, seconds))
    average = sum(seconds / every for every, _, seconds in items)
    length = math.lcm(*(every for every, _, _ in items)) if items else 1
    if length > MAX_SCHEDULE:  # too long to walk: every request in one cycle, the worst case
        return BusLoad(average, sum(seconds for _, _, seconds in items))
    busiest = max(
        sum(seconds for every, offset, seconds in items if on_schedule(t, every, offset))
        for t in range(length)
    )
    return BusLoad(average, busiest)


def _rate(request: Request, device: ModbusConfig) -> str:
    interval = request.interval or device.interval
    return f", every {format_duration(interval)}" if interval is not None else ""


def check_report(devices: list[ModbusConfig], settings: Settings) -> list[str]:
    lines = ["modbus request plans:"]
    plans = {d.name: device_plan(d) for d in devices}
    warnings: list[str] = []
    for device in devices:
        plan = plans[device.name]
        where = device.port if device.serial else f"{device.host}:{device.network_port}"
        count = len(plan)
        lines.append(
            f"  {device.name} ({device.transport} {where} unit {device.unit_id}): "
            f"{count} request{'s' * (count != 1)}"
        )
        lines.extend(f"    {request}{_rate(request, device)}" for request in plan.requests)
        warnings.extend(_address_warnings(device))
    serial_buses: dict[str, list[ModbusConfig]] = {}
    for device in devices:
        if device.serial:
            serial_buses.setdefault(str(device.port), []).append(device)
    for port, members in serial_buses.items():
        baud = members[0].baudrate
        requests = sum(len(plans[d.name]) for d in members)
        load = bus_time_per_cycle(members, plans, settings.interval)
        if load.average == load.busiest:
            timing = f"~{load.busiest * 1000:.1f} ms per cycle"
        else:
            timing = (
                f"~{load.average * 1000:.1f} ms per cycle on average, "
                f"~{load.busiest * 1000:.1f} ms in the busiest"
            )
        share = load.busiest / settings.interval
        lines.append(
            f"serial bus {port} ({baud} baud, {len(members)} devices, {requests} requests): "
            f"{timing}, {share:.0%} of the {settings.interval:g}s interval (wire model, "
            f"{TURNAROUND * 1000:g} ms turnaround per request)"
        )
        if share > WARN_LOAD:
            lines.append(
                ReportWarning(
                    f"serial bus {port} is busy {share:.0%} of each cycle (over "
                    f"{WARN_LOAD:.0%}): raise the baud rate or the interval, or read fewer "
                    "registers"
                )
            )
    lines.extend(ReportWarning(w) for w in warnings)
    return lines


_ONE_BASED = {"holding": (40001, 49999, 40001), "input": (30001, 39999, 30001)}


def _address_warnings(device: ModbusConfig) -> Iterator[str]:
    """1-based register numbers where protocol addresses belong, and overlapping fields."""
    # SunSpec devices (the ones with scale factor registers) really have addresses 40000 up
    sunspec = any(field.scale_factor is not None for field in device.fields)
    for field in device.fields:
        span = _ONE_BASED.get(field.table)
        if span is not None and span[0] <= field.address <= span[1] and not sunspec:
            yield (
                f"{device.name}.{field.name}: address {field.address} looks like a 1-based "
                f"register number ({field.table} register {field.address}); addresses are "
                f"zero-based protocol addresses, so that register is address "
                f"{field.address - span[2]}. If the device's manual gives {field.address} as "
                "the protocol address, all is well"
            )
    by_table: dict[str, list[ModbusField]] = {}
    for field in device.fields:
        by_table.setdefault(field.table, []).append(field)
    for table, members in by_table.items():
        ordered = sorted(members, key=lambda f: (f.address, f.size))
        for i, first in enumerate(ordered):
            for second in ordered[i + 1 :]:
                if second.address >= first.address + first.size:
                    break
                if _bit_field(first) or _bit_field(second):
                    continue  # bits of one register are meant to share it
                yield (
                    f"{device.name}: fields {first.name} ({table} {first.address}-"
                    f"{first.address + first.size - 1}) and {second.name} ({table} "
                    f"{second.address}-{second.address + second.size - 1}) overlap"
                )


def _bit_field(field: ModbusField) -> bool:
    return field.bit is not None or field.bits is not None
