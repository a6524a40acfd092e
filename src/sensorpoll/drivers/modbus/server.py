"""Simulated Modbus slaves: real pymodbus servers serving register images we control.

Used by `sensorpoll simulate` and by the tests as the well-behaved slave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer, ModbusUdpServer

_TABLE_OF_FUNCTION = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 4: "input"}


@dataclass
class UnitImage:
    """One slave's tables: address -> register (int) or bit (bool). Addresses not in a table
    answer with exception 2 (illegal data address), as a real device's unmapped ones do."""

    tables: dict[str, dict[int, int | bool]] = field(
        default_factory=lambda: {"holding": {}, "input": {}, "coil": {}, "discrete": {}}
    )
    refresh: Callable[[], None] | None = None  # called before each read (waveforms)

    def set(self, table: str, address: int, values: list[int] | list[bool]) -> None:
        for i, value in enumerate(values):
            self.tables[table][address + i] = value

    def get(self, table: str, address: int, count: int) -> list[int] | list[bool] | None:
        cells = self.tables[table]
        try:
            return [cells[a] for a in range(address, address + count)]
        except KeyError:
            return None


class ImageContext(ModbusServerContext):
    """A server context over `UnitImage`s that works on pymodbus 3.12 to 3.16.

    It implements the interface the servers call (`async_getValues`, `async_setValues`,
    `device_ids`) instead of using the datastore classes, whose API changed within 3.x.
    """

    def __init__(self, units: Mapping[int, UnitImage]) -> None:  # no super(): see above
        self.units = dict(units)
        self.old_simulator = True  # 3.16: "serve this context as it is"
        self.simdevices: list[Any] = []
        self.single = False

    def device_ids(self) -> list[int]:
        return list(self.units)

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        unit = self.units.get(device_id)
        if unit is None:
            raise NoSuchIdException(f"no unit {device_id}")  # type: ignore[no-untyped-call,unused-ignore]
        if unit.refresh is not None:
            unit.refresh()
        values = unit.get(_TABLE_OF_FUNCTION.get(func_code, "holding"), address, count)
        return ExcCodes.ILLEGAL_ADDRESS if values is None else values

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: Any
    ) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_FUNCTION  # a simulated sensor is read-only


class SimulatedSlave:
    """A running pymodbus server; `address` is where it listens (TCP/UDP) or its port path."""

    def __init__(self, server: Any, address: str) -> None:
        self._server = server
        self.address = address

    @classmethod
    async def tcp(
        cls,
        units: Mapping[int, UnitImage],
        host: str = "127.0.0.1",
        port: int = 0,
        framer: str = "socket",
    ) -> SimulatedSlave:
        """Serve Modbus TCP (or RTU over TCP with framer="rtu"); port 0 picks a free one."""
        server = ModbusTcpServer(
            ImageContext(units),
            framer=FramerType.RTU if framer == "rtu" else FramerType.SOCKET,
            address=(host, port),
            ignore_missing_devices=framer == "rtu",
        )
        await server.serve_forever(background=True)
        listener: Any = server.transport
        bound = listener.sockets[0].getsockname()
        return cls(server, f"{bound[0]}:{bound[1]}")

    @classmethod
    async def udp(
        cls, units: Mapping[int, UnitImage], host: str = "127.0.0.1", port: int = 0
    ) -> SimulatedSlave:
        server = ModbusUdpServer(ImageContext(units), address=(host, port))
        await server.serve_forever(background=True)
        bound = server.transport.get_extra_info("sockname")
        return cls(server, f"{bound[0]}:{bound[1]}")

    @classmethod
    async def serial(
        cls,
        units: Mapping[int, UnitImage],
        port: str,
        *,
        framer: str = "rtu",
        baudrate: int = 19200,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
    ) -> SimulatedSlave:
        """Serve RTU (or ASCII) on a serial port, several units on one line like an RS-485 bus:
        requests for other unit ids go unanswered."""
        server = ModbusSerialServer(
            ImageContext(units),
            framer=FramerType.RTU if framer == "rtu" else FramerType.ASCII,
            port=port,
            baudrate=baudrate,
            parity=parity,
            stopbits=stopbits,
            bytesize=bytesize,
            ignore_missing_devices=True,
        )
        await server.serve_forever(background=True)
        return cls(server, port)

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    async def aclose(self) -> None:
        await self._server.shutdown()
        await asyncio.sleep(0)  # let the transports finish closing
