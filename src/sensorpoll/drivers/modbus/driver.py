"""`driver: modbus`: reads a device's planned requests over its line and decodes the fields.

Seen from the poll loop it is any other driver; the line (bus queue) and pymodbus are below it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import Driver, Value
from sensorpoll.drivers.bus import Bus, Buses
from sensorpoll.drivers.modbus.codec import BlockDecoder, FieldLayout, compile_decoder
from sensorpoll.drivers.modbus.config import BIT_TABLES, ModbusConfig
from sensorpoll.drivers.modbus.line import ModbusLine
from sensorpoll.drivers.modbus.plan import Request, device_plan
from sensorpoll.drivers.modbus.report import check_report


@dataclass(frozen=True)
class CompiledRequest:
    """One planned request with what reading it takes: its answer timeout and its decoder."""

    request: Request
    answer_timeout: float | None
    decode: BlockDecoder  # the block it reads -> every field's value, into a dict


def compile_request(config: ModbusConfig, request: Request) -> CompiledRequest:
    layouts = [
        FieldLayout(
            field.name,
            field.address - request.address,
            field.data_type,
            field.order,
            field.scale,
            field.offset,
            field.count or 1,
        )
        for field in request.fields
    ]
    bits = request.table in BIT_TABLES
    return CompiledRequest(
        request,
        config.answer_timeout(request.count, bits=bits),
        compile_decoder(layouts, request.count),
    )


class ModbusDriver(Driver[ModbusConfig]):
    config_model = ModbusConfig
    reasons = ("timeout", "connection", "protocol")

    def __init__(self, config: ModbusConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        self.plan = device_plan(config)
        shared = config.bus() is not None
        # TCP and UDP devices keep a connection of their own, outside the shared buses
        self._own_bus = None if shared else Bus(config.line_key)
        self.line = ModbusLine.on(self._own_bus or buses.get(config.line_key), config)
        self._requests = [compile_request(config, request) for request in self.plan.requests]
        self._last_request_end = 0.0  # loop time the line went quiet after our last request

    async def read(self) -> Mapping[str, Value]:
        if self.deadline is not None:
            self.line.fit_timeout(self.deadline)
        pause = self.config.pause_between_requests
        values: dict[str, Value] = {}
        for compiled in self._requests:
            block, self._last_request_end = await self.line.read(
                self.config,
                compiled.request,
                compiled.answer_timeout,
                not_before=self._last_request_end + pause,
            )
            compiled.decode(block, values)
        return values

    async def aclose(self) -> None:
        if self._own_bus is not None:
            await self._own_bus.aclose()

    @classmethod
    async def simulate(cls, devices: list[ModbusConfig], announce: Callable[[str], None]) -> bool:
        # imported here, not for a cycle: only `simulate` needs pymodbus's servers and ptys
        from sensorpoll.drivers.modbus.simulation import serve_devices

        return await serve_devices(devices, announce)

    @classmethod
    def check_report(cls, devices: list[ModbusConfig], settings: Settings) -> list[str]:
        return check_report(devices, settings)
