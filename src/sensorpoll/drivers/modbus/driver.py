"""`driver: modbus`: reads a device's planned requests over its line and decodes the fields.

Seen from the poll loop it is any other driver; the line (bus queue) and pymodbus are below it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from sensorpoll.config.schema import Settings
from sensorpoll.drivers.base import Driver, Reading, Value
from sensorpoll.drivers.bus import Bus, Buses
from sensorpoll.drivers.modbus.codec import (
    Block,
    BlockDecoder,
    Decoded,
    FieldLayout,
    FrameDecoder,
    compile_decoder,
    compile_frame_decoder,
)
from sensorpoll.drivers.modbus.config import BIT_TABLES, ModbusConfig
from sensorpoll.drivers.modbus.errors import ModbusExceptionResponse
from sensorpoll.drivers.modbus.line import ModbusLine
from sensorpoll.drivers.modbus.plan import Request, device_plan, is_scale_factor, scale_factor_name
from sensorpoll.drivers.modbus.report import check_report
from sensorpoll.drivers.modbus.values import (
    ValueRule,
    compile_rule,
    drop_non_finite,
    is_float,
    needs_rule,
    raw_type,
)

log = logging.getLogger("sensorpoll.modbus")

ILLEGAL_DATA_ADDRESS = 2


@dataclass(frozen=True)
class CompiledRequest:
    """One planned request with what reading it takes: its answer timeout, its decoder, and
    (for fields with a value rule) how each of its fields becomes its value."""

    request: Request
    answer_timeout: float | None
    decode: BlockDecoder  # the block it reads -> every field's value, into a dict
    # (field, its rule, its scale factor's name) for each field that has a rule; None when
    # no field of the request has one: the decoded values are the values
    rules: tuple[tuple[str, ValueRule | None, str | None], ...] | None = None
    floats: tuple[str, ...] = ()  # float fields without a rule: NaN and infinity are no value
    # the fields from the answer's bytes as they came, for a register request whose fields
    # all read the big-endian image (see `compile_frame_decoder`); None: from the block
    decode_frame: FrameDecoder | None = None


def _went_well(last: asyncio.Future[Reading] | bool) -> bool:
    """Whether the last read (True: through `read`; a future: begun) succeeded."""
    if isinstance(last, bool):
        return last
    return last.done() and not last.cancelled() and last.exception() is None


def _decoded(compiled: CompiledRequest, block: Block | bytes) -> dict[str, Value | None]:
    """The values of a request without value rules, from the block it read, or from the
    answer's register bytes when the request has a frame decoder (`decode_frame`)."""
    values: dict[str, Value | None] = {}
    if compiled.decode_frame is not None:
        compiled.decode_frame(block, values)  # type: ignore[arg-type]
    else:
        compiled.decode(block, values)  # type: ignore[arg-type]
    if compiled.floats:
        drop_non_finite(values, compiled.floats)
    return values


def compile_request(config: ModbusConfig, request: Request) -> CompiledRequest:
    layouts = []
    rules: list[tuple[str, ValueRule | None, str | None]] = []
    for member in request.fields:
        ruled = needs_rule(member)
        layouts.append(
            FieldLayout(
                member.name,
                member.address - request.address,
                raw_type(member) if ruled else member.data_type,  # type: ignore[arg-type]
                member.order,
                1.0 if ruled else member.scale,  # the rule scales, after its checks
                0.0 if ruled else member.offset,
                member.count or 1,
            )
        )
        sf = member.scale_factor
        rules.append(
            (
                member.name,
                compile_rule(member) if ruled else None,
                scale_factor_name(sf.table, sf.address) if sf is not None else None,
            )
        )
    bits = request.table in BIT_TABLES
    plain = all(rule is None for _, rule, _ in rules) and not any(
        is_scale_factor(m) for m in request.fields
    )
    floats = tuple(m.name for m in request.fields if is_float(m) and not needs_rule(m))
    return CompiledRequest(
        request,
        config.answer_timeout(request.count, bits=bits),
        compile_decoder(layouts, request.count),
        None if plain else tuple(rules),
        floats,
        None if bits else compile_frame_decoder(layouts, request.count),
    )


@dataclass
class RateGroup:
    """The requests of one poll rate: read when any of their fields is due."""

    interval: float | None  # None: the device's own rate
    names: frozenset[str]  # the configured fields the group reads
    requests: list[CompiledRequest] = field(default_factory=list)


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
        groups: dict[float | None, RateGroup] = {}
        for request in self.plan.requests:
            group = groups.get(request.interval)
            if group is None:
                group = groups[request.interval] = RateGroup(request.interval, frozenset())
            group.names |= {f.name for f in request.fields if not is_scale_factor(f)}
            group.requests.append(compile_request(config, request))
        self._groups = list(groups.values())
        self._last_request_end = 0.0  # loop time the line went quiet after our last request
        self._progress: dict[str, Value | None] = {}  # the values of the read in progress
        # `begin`'s last future; False until a `read` succeeds, and again after a begun read
        # failed: the next read then goes through `read` (reconnect, split a refused request)
        self._begun: asyncio.Future[Reading] | bool = False

    def begin(self) -> asyncio.Future[Reading] | None:
        """A read that is one request, sent at once with nothing to wait for, and decoded in
        the answer's callback (see `Driver.begin`) -- after a good read only. Anything else
        goes through `read`."""
        if not _went_well(self._begun):
            self._begun = False
            return None
        groups, config = self._groups, self.config
        if len(groups) != 1 or len(groups[0].requests) != 1 or config.pause_between_requests:
            return None
        compiled = groups[0].requests[0]
        due = self.due
        if compiled.rules is not None or (due is not None and groups[0].names.isdisjoint(due)):
            return None
        if self.deadline is not None:
            self.line.fit_timeout(self.deadline)
        self._progress = {}
        future = self.line.begin(
            config,
            compiled.request,
            self._last_request_end,
            partial(_decoded, compiled),
            frame=compiled.decode_frame is not None,  # straight from the answer's bytes
        )
        if future is not None:
            self._begun = future
        return future

    async def read(self) -> Reading:
        if self.deadline is not None:
            self.line.fit_timeout(self.deadline)
        values: dict[str, Value | None] = {}
        self._progress = values  # what a read cut short by its deadline had (see `partial`)
        # decoded numbers of fields with a rule and scale factors; fields waiting for theirs
        raw: dict[str, Decoded] = {}
        waiting: dict[str, list[tuple[str, ValueRule]]] = {}
        due = self.due
        for group in self._groups:
            if due is not None and group.names.isdisjoint(due):
                continue
            for compiled in group.requests:
                try:
                    await self._read_one(compiled, values, raw, waiting)
                except ModbusExceptionResponse as exc:
                    if exc.code != ILLEGAL_DATA_ADDRESS or len(compiled.request.fields) < 2:
                        raise
                    await self._read_split(group, compiled, values, raw, waiting)
        self._begun = True
        return values

    async def _read_one(
        self,
        compiled: CompiledRequest,
        values: dict[str, Value | None],
        raw: dict[str, Decoded],
        waiting: dict[str, list[tuple[str, ValueRule]]],
    ) -> None:
        """Send one request on the line and decode its answer into `values` (through `raw`
        for fields with a value rule)."""
        pause = self.config.pause_between_requests
        block, self._last_request_end = await self.line.read(
            self.config,
            compiled.request,
            compiled.answer_timeout,
            not_before=self._last_request_end + pause,
        )
        if compiled.rules is None:
            compiled.decode(block, values)  # type: ignore[arg-type]
        else:
            compiled.decode(block, raw)
            _apply_rules(compiled, raw, values, waiting)
        if compiled.floats:
            drop_non_finite(values, compiled.floats)

    async def _read_split(
        self,
        group: RateGroup,
        merged: CompiledRequest,
        values: dict[str, Value | None],
        raw: dict[str, Decoded],
        waiting: dict[str, list[tuple[str, ValueRule]]],
    ) -> None:
        """`merged` got exception 2: split it for good, and read its parts now."""
        parts = self._split(merged)
        at = group.requests.index(merged)
        group.requests = [*group.requests[:at], *parts, *group.requests[at + 1 :]]
        for compiled in parts:
            await self._read_one(compiled, values, raw, waiting)

    def _split(self, compiled: CompiledRequest) -> list[CompiledRequest]:
        """A merged request refused with exception 2: one request per field from now on."""
        request = compiled.request
        log.info(
            "device %s: %s answered exception 2 (illegal data address), so the device has a "
            "hole in its register map there; reading those fields one request each from now on",
            self.config.name,
            f"{request.table} {request.address}-{request.end - 1}",
        )
        parts = sorted(request.fields, key=lambda f: (f.address, f.size))
        return [
            compile_request(self.config, replace(request, address=f.address, count=f.size,
                                                 fields=(f,)))
            for f in parts
        ]  # fmt: skip

    def partial(self) -> Reading:
        return self._progress

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


def _apply_rules(
    compiled: CompiledRequest,
    raw: dict[str, Decoded],
    values: dict[str, Value | None],
    waiting: dict[str, list[tuple[str, ValueRule]]],
) -> None:
    """The values of a decoded request's fields; a field whose scale factor register comes in
    a later request waits for it."""
    assert compiled.rules is not None
    for name, rule, sf in compiled.rules:
        if rule is None:
            if name in raw and not name.startswith("scale_factor@"):
                values[name] = raw[name]
            if name in waiting:  # a scale factor: the fields that waited for it
                exponent = int(raw[name])
                for field_name, field_rule in waiting.pop(name):
                    values[field_name] = field_rule(raw[field_name], exponent)
            continue
        if sf is None:
            values[name] = rule(raw[name], None)
        elif sf in raw:
            values[name] = rule(raw[name], int(raw[sf]))
        else:
            waiting.setdefault(sf, []).append((name, rule))
