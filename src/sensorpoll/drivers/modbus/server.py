"""Simulated Modbus slaves: real pymodbus servers serving register images we control.

Used by `sensorpoll simulate` and by the tests as the well-behaved slave.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer, ModbusUdpServer

from sensorpoll.drivers.modbus.compat import ImageContext, listening_address


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

    def read(self, table: str, address: int, count: int) -> list[int] | list[bool] | None:
        """What a server answers: the values after `refresh`, None if any is unmapped."""
        if self.refresh is not None:
            self.refresh()
        cells = self.tables[table]
        try:
            return [cells[a] for a in range(address, address + count)]
        except KeyError:
            return None


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
        host, bound = listening_address(server)
        return cls(server, f"{host}:{bound}")

    @classmethod
    async def udp(
        cls, units: Mapping[int, UnitImage], host: str = "127.0.0.1", port: int = 0
    ) -> SimulatedSlave:
        server = ModbusUdpServer(ImageContext(units), address=(host, port))
        await server.serve_forever(background=True)
        host, bound = listening_address(server)
        return cls(server, f"{host}:{bound}")

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
