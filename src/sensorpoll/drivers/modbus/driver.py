"""`driver: modbus`: reads a device's planned requests over its line and decodes the fields.

Seen from the poll loop it is any other driver; the line (bus queue) and pymodbus are below it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import Driver, Value
from sensorpoll.drivers.bus import Bus, Buses
from sensorpoll.drivers.modbus.client import Block
from sensorpoll.drivers.modbus.codec import compile_block_decoder, compile_decoder
from sensorpoll.drivers.modbus.config import BIT_TABLES, ModbusConfig
from sensorpoll.drivers.modbus.line import ModbusLine, block_and_end
from sensorpoll.drivers.modbus.plan import Request, RequestPlan, plan_requests


def device_plan(config: ModbusConfig) -> RequestPlan:
    return plan_requests(
        config.fields,
        max_registers=config.max_registers_per_request,
        max_gap=config.max_gap,
        one_per_field=config.one_request_per_field,
    )


@dataclass(frozen=True)
class Step:
    """One planned request, compiled: its answer timeout and how to cut each field from it."""

    request: Request
    answer_timeout: float | None
    # (field name, first index, end index, decoder; None: a bit, bool(block[first]))
    fields: tuple[tuple[str, int, int, Callable[[Sequence[int]], Value] | None], ...]
    # all fields at once into the values, when they are all numeric (see compile_block_decoder)
    decode: Callable[[Sequence[int], dict[str, Value]], None] | None = None


def compile_step(config: ModbusConfig, request: Request) -> Step:
    fields = []
    for field in request.fields:
        begin = field.address - request.address
        decoder = None
        if field.table not in BIT_TABLES:
            decoder = compile_decoder(
                field.data_type, field.order, field.scale, field.offset, field.count or 1
            )
        fields.append((field.name, begin, begin + field.size, decoder))
    limit = config.answer_timeout(request.count, bits=request.table in BIT_TABLES)
    decode = None
    if request.table not in BIT_TABLES:
        decode = compile_block_decoder(
            [
                (f.name, f.address - request.address, f.data_type, f.order, f.scale, f.offset)
                for f in request.fields
            ],
            request.count,
        )
    return Step(request, limit, tuple(fields), decode)


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
        self._last_request_end = 0.0
        self._steps = [compile_step(config, request) for request in self.plan.requests]
        self._pause = config.pause_between_requests
        # a device's only request, when it decodes all its fields at once (see `read`)
        self._only: tuple[Step, Callable[[Sequence[int], dict[str, Value]], None]] | None = None
        if len(self._steps) == 1 and self._steps[0].decode is not None:
            self._only = (self._steps[0], self._steps[0].decode)

    def read(self) -> Coroutine[Any, Any, Mapping[str, Value]]:
        if self.deadline is not None and self.deadline < self.line.timeout:
            self.line.fit_timeout(self.deadline)
        if self._only is not None:
            # hot path: the line's coroutine is the whole read, decoding in `finish`: one
            # coroutine fewer alive per device in a cycle (and fewer garbage collections)
            line, pause, step = self.line, self._pause, self._only[0]
            read = line.read if line.shared else line.request
            return read(
                self.config,
                step.request,
                step.answer_timeout,
                self._last_request_end + pause if pause else 0.0,
                self._finish_only,
            )
        return self._read_steps()

    def _finish_only(self, block: Block, end: float) -> Mapping[str, Value]:
        self._last_request_end = end
        values: dict[str, Value] = {}
        self._only[1](block, values)  # type: ignore[index]  # set whenever this is used
        return values

    async def _read_steps(self) -> Mapping[str, Value]:
        values: dict[str, Value] = {}
        pause, config, line = self._pause, self.config, self.line
        read = line.read if line.shared else line.request  # no queue on a line of our own
        for step in self._steps:
            block, self._last_request_end = await read(
                config,
                step.request,
                step.answer_timeout,
                self._last_request_end + pause if pause else 0.0,
                block_and_end,
            )
            if step.decode is not None:
                step.decode(block, values)
                continue
            for name, begin, end, decoder in step.fields:
                values[name] = bool(block[begin]) if decoder is None else decoder(block[begin:end])
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
