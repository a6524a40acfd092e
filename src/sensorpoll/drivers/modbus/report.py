"""What `sensorpoll check` prints for Modbus devices: each request plan, each serial bus's load.

Bus time per cycle comes from the wire model in `wire.py`, compared against the interval.
"""

from __future__ import annotations

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import ReportWarning
from sensorpoll.drivers.modbus.config import BIT_TABLES, ModbusConfig
from sensorpoll.drivers.modbus.plan import RequestPlan, device_plan
from sensorpoll.drivers.modbus.wire import TURNAROUND, request_time

WARN_LOAD = 0.8  # share of the interval a serial bus may be busy before `check` warns


def bus_time(devices: list[ModbusConfig], plans: dict[str, RequestPlan]) -> float:
    """Estimated seconds one cycle's requests occupy a serial line."""
    total = 0.0
    for device in devices:
        plan = plans[device.name]
        for i, request in enumerate(plan.requests):
            total += request_time(request.count, device.baudrate, bits=request.table in BIT_TABLES)
            if i:
                total += device.pause_between_requests
    return total


def check_report(devices: list[ModbusConfig], settings: Settings) -> list[str]:
    lines = ["modbus request plans:"]
    plans = {d.name: device_plan(d) for d in devices}
    for device in devices:
        plan = plans[device.name]
        where = device.port if device.serial else f"{device.host}:{device.network_port}"
        count = len(plan)
        lines.append(
            f"  {device.name} ({device.transport} {where} unit {device.unit_id}): "
            f"{count} request{'s' * (count != 1)}"
        )
        lines.extend(f"    {request}" for request in plan.requests)
    serial_buses: dict[str, list[ModbusConfig]] = {}
    for device in devices:
        if device.serial:
            serial_buses.setdefault(str(device.port), []).append(device)
    for port, members in serial_buses.items():
        seconds = bus_time(members, plans)
        load = seconds / settings.interval
        baud = members[0].baudrate
        requests = sum(len(plans[d.name]) for d in members)
        lines.append(
            f"serial bus {port} ({baud} baud, {len(members)} devices, {requests} requests): "
            f"~{seconds * 1000:.1f} ms per cycle, {load:.0%} of the {settings.interval:g}s "
            f"interval (wire model, {TURNAROUND * 1000:g} ms turnaround per request)"
        )
        if load > WARN_LOAD:
            lines.append(
                ReportWarning(
                    f"serial bus {port} is busy {load:.0%} of each cycle (over "
                    f"{WARN_LOAD:.0%}): raise the baud rate or the interval, or read fewer "
                    "registers"
                )
            )
    return lines
