"""`sensorpoll probe`: read raw Modbus registers once and show every decoding side by side,
so a user finds a device's types and byte order without trial and error."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from sensorpoll.drivers.errors import DeviceError
from sensorpoll.drivers.modbus.codec import (
    CANONICAL_ORDERS,
    NUMERIC_TYPES,
    Block,
    decode_raw,
    register_count,
)
from sensorpoll.drivers.modbus.config import ModbusConfig
from sensorpoll.drivers.modbus.line import open_connection


def device_config(args: argparse.Namespace) -> ModbusConfig:
    common: dict[str, Any] = {
        "name": "probe",
        "unit_id": args.unit,
        "fields": [{"name": "probe", "address": args.address}],
    }
    if args.serial is not None:
        transport = args.transport or "rtu"
        return ModbusConfig.model_validate(
            {
                **common,
                "transport": transport,
                "port": args.serial,
                "baudrate": args.baudrate,
                "parity": args.parity,
                "stopbits": args.stopbits,
            }
        )
    transport = args.transport or "tcp"
    return ModbusConfig.model_validate(
        {**common, "transport": transport, "host": args.host, "port": args.port}
    )


async def read_block(
    config: ModbusConfig, table: str, address: int, count: int, limit: float
) -> Block:
    async with asyncio.timeout(limit):
        connection = await open_connection(config, limit)
        try:
            return await connection.read(table, address, count, config.unit_id)
        finally:
            connection.close()


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.9g}"
    return str(value)


def render(block: Block, table: str, address: int) -> list[str]:
    if table in ("coil", "discrete"):
        return [f"  {address + i:5d}  {int(bit)}" for i, bit in enumerate(block)]
    registers = [int(r) for r in block]
    lines = ["  address    hex  unsigned  signed"]
    for i, reg in enumerate(registers):
        signed = reg - 0x10000 if reg & 0x8000 else reg
        lines.append(f"  {address + i:7d}  {reg:#06x}  {reg:8d}  {signed:6d}")
    lines.append("")
    lines.append(f"decodings of the registers from address {address}:")
    width = 22
    header = "  " + "type".ljust(9) + "".join(o.ljust(width) for o in CANONICAL_ORDERS)
    lines.append(header.rstrip())
    for data_type in NUMERIC_TYPES:
        size = register_count(data_type)
        if size > len(registers):
            cells = [f"(needs {size} registers)"] + [""] * 3
        else:
            cells = [_show(decode_raw(registers[:size], data_type, o)) for o in CANONICAL_ORDERS]
        lines.append("  " + data_type.ljust(9) + "".join(c.ljust(width) for c in cells).rstrip())
    texts = [repr(decode_raw(registers, "string", o)) for o in ("ABCD", "BADC")]
    lines.append(f"  string    {texts[0]} (ABCD/CDAB)   {texts[1]} (BADC/DCBA)")
    return lines


def run(
    args: argparse.Namespace,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> int:
    limit = 2000 if args.table in ("coil", "discrete") else 125
    if not 1 <= args.count <= limit:
        print(f"probe: --count must be 1-{limit} for {args.table}", file=sys.stderr)
        return 2
    try:
        config = device_config(args)
    except ValueError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 2
    where = config.port if config.serial else f"{config.host}:{config.network_port}"
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            block = runner.run(
                read_block(config, args.table, args.address, args.count, args.timeout)
            )
    except DeviceError as exc:
        print(f"probe failed: {exc.reason}: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"probe failed: timeout: no answer within {args.timeout:g}s", file=sys.stderr)
        return 1
    print(
        f"{args.table} {args.address}-{args.address + args.count - 1} of unit {args.unit} "
        f"at {where} ({config.transport}):"
    )
    for line in render(block, args.table, args.address):
        print(line)
    return 0
