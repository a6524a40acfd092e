"""`driver: modbus`: reads a device's planned requests over its line and decodes the fields.

Seen from the poll loop it is any other driver; the line (bus queue) and pymodbus are below it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import Driver, Value
from sensorpoll.drivers.bus import Bus, Buses
from sensorpoll.drivers.modbus.codec import decode
from sensorpoll.drivers.modbus.config import ModbusConfig, ModbusField
from sensorpoll.drivers.modbus.line import ModbusLine
from sensorpoll.drivers.modbus.plan import RequestPlan, plan_requests


def device_plan(config: ModbusConfig) -> RequestPlan:
    return plan_requests(
        config.fields,
        max_registers=config.max_registers_per_request,
        max_gap=config.max_gap,
        one_per_field=config.one_request_per_field,
    )


def field_value(field: ModbusField, block: list[int] | list[bool], start: int) -> Value:
    offset = field.address - start
    if field.table in ("coil", "discrete"):
        return bool(block[offset])
    registers = [int(r) for r in block[offset : offset + field.size]]
    return decode(registers, field.data_type, field.order, field.scale, field.offset)


class ModbusDriver(Driver[ModbusConfig]):
    config_model = ModbusConfig

    def __init__(self, config: ModbusConfig, buses: Buses) -> None:
        super().__init__(config, buses)
        self.plan = device_plan(config)
        shared = config.bus() is not None
        # TCP and UDP devices keep a connection of their own, outside the shared buses
        self._own_bus = None if shared else Bus(config.line_key)
        self.line = ModbusLine.on(self._own_bus or buses.get(config.line_key), config)
        self._last_request_end = 0.0

    async def read(self) -> Mapping[str, Value]:
        if self.deadline is not None:
            self.line.fit_timeout(self.deadline)
        values: dict[str, Value] = {}
        pause = self.config.pause_between_requests
        for request in self.plan.requests:
            block, self._last_request_end = await self.line.read(
                self.config,
                request.table,
                request.address,
                request.count,
                not_before=self._last_request_end + pause if pause else 0.0,
            )
            for field in request.fields:
                values[field.name] = field_value(field, block, request.address)
        return values

    async def aclose(self) -> None:
        if self._own_bus is not None:
            await self._own_bus.aclose()

    @classmethod
    async def simulate(cls, devices: list[ModbusConfig], announce: Callable[[str], None]) -> bool:
        from sensorpoll.drivers.modbus.simulation import serve_devices

        return await serve_devices(devices, announce)

    @classmethod
    def check_report(cls, devices: list[ModbusConfig], settings: Settings) -> list[str]:
        from sensorpoll.drivers.modbus.report import check_report

        return check_report(devices, settings)
