"""The Modbus part of `sensorpoll simulate`: a config's devices as pymodbus slaves.

TCP/UDP/RTU-over-TCP devices are served on their configured loopback host and port; each
serial port becomes a pty pair (RTU or ASCII), linked at the configured path when it can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from sensorpoll.drivers.base import is_loopback
from sensorpoll.drivers.modbus.codec import Decoded, encode, unscaled
from sensorpoll.drivers.modbus.config import BIT_TABLES, ModbusConfig, ModbusField
from sensorpoll.drivers.modbus.plan import plan_requests
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from sensorpoll.drivers.pty import PtyLink
from sensorpoll.drivers.signal import Signal, signal_source

DEFAULT_WAVE = Signal(waveform="sine", min=0.0, max=100.0, period=60.0)


def field_source(field: ModbusField) -> Callable[[float], Decoded]:
    """The value a simulated field has at wall-clock time `now`: its `simulate:` hint, or a
    slow sine for numbers, false for bools, the field's name for strings."""
    hint = field.simulate
    if hint is None:
        if field.kind == "bool":
            return lambda now: False
        if field.kind == "string":
            return lambda now: field.name
        hint = DEFAULT_WAVE
    return signal_source(hint, random.Random(field.name))


def unit_image(device: ModbusConfig) -> UnitImage:
    """Registers for every address the device's plan reads (gaps included, as zeros), with
    each field's value written in its type and byte order before every answer."""
    unit = UnitImage()
    plan = plan_requests(
        device.fields, max_registers=device.max_registers_per_request, max_gap=device.max_gap
    )
    for request in plan.requests:
        blank: list[int] | list[bool]
        blank = [False] * request.count if request.table in BIT_TABLES else [0] * request.count
        unit.set(request.table, request.address, blank)
    for field in device.fields:
        if field.scale_factor is not None:  # exponent 0: the value is served as it is
            unit.set(field.scale_factor.table, field.scale_factor.address, [0])
    sources = [(field, field_source(field)) for field in device.fields]

    def refresh() -> None:
        now = time.time()
        for field, source in sources:
            value = source(now)
            if field.table in BIT_TABLES:
                unit.set(field.table, field.address, [bool(value)])
                continue
            if field.bit is not None or field.bits is not None:
                _set_bits(unit, field, value)
                continue
            if field.kind == "number" and not isinstance(value, str):
                value = unscaled(float(value), field.scale, field.offset)
            registers = encode(value, field.data_type, field.order, field.count or 1)
            unit.set(field.table, field.address, registers)

    unit.refresh = refresh
    refresh()
    return unit


def _set_bits(unit: UnitImage, field: ModbusField, value: Decoded) -> None:
    """Write a bit field's value into its register, leaving the register's other bits."""
    start, length = (field.bit, 1) if field.bit is not None else field.bits or (0, 16)
    mask = ((1 << length) - 1) << start
    if isinstance(value, bool | str):
        number = int(bool(value))
    else:
        number = max(0, min((1 << length) - 1, round(unscaled(value, field.scale, field.offset))))
    register = int(unit.tables[field.table].get(field.address, 0))
    unit.set(field.table, field.address, [(register & ~mask) | ((number << start) & mask)])


def _link_path(path: Path, target: str) -> bool:
    """Point the configured serial path at the pty, if nothing is there and we may write."""
    if path.exists() or path.is_symlink() or not os.access(path.parent, os.W_OK):
        return False
    path.symlink_to(target)
    return True


async def serve_devices(devices: list[ModbusConfig], announce: Callable[[str], None]) -> bool:
    """Serve until cancelled; False when none of `devices` can be served here."""
    endpoints: dict[tuple[str, str, int], list[ModbusConfig]] = {}
    serial: dict[str, list[ModbusConfig]] = {}
    for device in devices:
        if device.serial:
            serial.setdefault(str(device.port), []).append(device)
        elif not is_loopback(str(device.host)):
            announce(f"{device.name}: not simulated: {device.host} is not a loopback address")
        else:
            key = (device.transport, str(device.host), device.network_port)
            endpoints.setdefault(key, []).append(device)
    if not endpoints and not serial:
        return False
    slaves: list[SimulatedSlave] = []
    links: list[PtyLink] = []
    linked: list[Path] = []
    try:
        for (transport, host, port), members in endpoints.items():
            units = {d.unit_id: unit_image(d) for d in members}
            if transport == "udp":
                slave = await SimulatedSlave.udp(units, host, port)
            else:
                framer = "rtu" if transport == "rtu-over-tcp" else "socket"
                slave = await SimulatedSlave.tcp(units, host, port, framer=framer)
            slaves.append(slave)
            names = ", ".join(f"{d.name} (unit {d.unit_id})" for d in members)
            announce(f"modbus {transport} on {slave.address}: {names}")
        for port_path, members in serial.items():
            first = members[0]
            link = await PtyLink().start()
            links.append(link)
            slave = await SimulatedSlave.serial(
                {d.unit_id: unit_image(d) for d in members},
                link.ends[1],
                framer=first.transport,
                baudrate=first.baudrate,
                # no bits on a pty: parity means nothing there, and some kernels
                # refuse PARENB on a pty outright (seen on Linux 6.18: EINVAL for even parity)
                parity="N",
                stopbits=first.stopbits,
                bytesize=first.bytesize,
            )
            slaves.append(slave)
            names = ", ".join(f"{d.name} (unit {d.unit_id})" for d in members)
            if _link_path(Path(port_path), link.ends[0]):
                linked.append(Path(port_path))
                where = f"{port_path} -> {link.ends[0]}"
            else:
                where = f"{link.ends[0]} (set port: {link.ends[0]} in place of {port_path})"
            announce(f"modbus {first.transport} on {where}: {names}")
        await asyncio.Event().wait()  # serve until cancelled
    finally:
        for slave in slaves:
            await slave.aclose()
        for link in links:
            await link.aclose()
        for path in linked:
            with contextlib.suppress(OSError):
                path.unlink()
    return True
