"""The request planner: a device's fields -> the fewest read requests the limits allow.

Pure: used by the driver every cycle (computed once) and by `sensorpoll check` to show it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sensorpoll.drivers.modbus.config import (
    BIT_TABLES,
    MAX_BITS,
    MAX_REGISTERS,
    ModbusConfig,
    ModbusField,
)


@dataclass(frozen=True)
class Request:
    """One read request: `count` registers (or bits) from `address` of `table`."""

    table: str
    address: int
    count: int
    fields: tuple[ModbusField, ...]
    interval: float | None = None  # its fields' own poll interval; None: the device's

    @property
    def end(self) -> int:
        return self.address + self.count

    def __str__(self) -> str:
        names = ", ".join(
            f"scale factor {f.address}" if is_scale_factor(f) else f.name for f in self.fields
        )
        return f"{self.table} {self.address}-{self.end - 1} ({self.count}): {names}"


@dataclass(frozen=True)
class RequestPlan:
    requests: tuple[Request, ...]

    def __len__(self) -> int:
        return len(self.requests)


def plan_requests(
    fields: Iterable[ModbusField],
    *,
    max_registers: int = MAX_REGISTERS,
    max_gap: int = 10,
    one_per_field: bool = False,
) -> RequestPlan:
    """Group fields into requests, per table in order of first appearance.

    Within a table, fields sorted by address are added greedily to the current request while
    the unread gap before a field is at most `max_gap` and the request stays within the limit
    (125 registers or `max_registers`, 2000 bits). Greedy is optimal here: every request
    starts at the lowest address not yet covered and reaches as far as the limits allow.
    A field is never split; overlapping fields share registers.
    """
    by_table: dict[str, list[ModbusField]] = {}
    for field in fields:
        by_table.setdefault(field.table, []).append(field)
    requests: list[Request] = []
    for table, members in by_table.items():
        limit = MAX_BITS if table in BIT_TABLES else min(max_registers, MAX_REGISTERS)
        ordered = sorted(members, key=lambda f: (f.address, f.size))
        if one_per_field:
            requests.extend(Request(table, f.address, f.size, (f,)) for f in ordered)
            continue
        start, end, group = ordered[0].address, ordered[0].address + ordered[0].size, [ordered[0]]
        for field in ordered[1:]:
            field_end = field.address + field.size
            new_end = max(end, field_end)
            if field.address - end <= max_gap and new_end - start <= limit:
                end = new_end
                group.append(field)
                continue
            requests.append(Request(table, start, end - start, tuple(group)))
            start, end, group = field.address, field_end, [field]
        requests.append(Request(table, start, end - start, tuple(group)))
    return RequestPlan(tuple(requests))


SCALE_FACTOR_PREFIX = "scale_factor@"  # field names cannot hold "@": no clash with a real one


def scale_factor_name(table: str, address: int) -> str:
    """The name a scale factor register is planned and decoded under."""
    return f"{SCALE_FACTOR_PREFIX}{table}:{address}"


def is_scale_factor(field: ModbusField) -> bool:
    """Whether a planned field is a scale factor register, not a configured field."""
    return field.name.startswith(SCALE_FACTOR_PREFIX)


def _with_scale_factors(fields: list[ModbusField]) -> list[ModbusField]:
    """`fields` and the scale factor registers they use, each once (an int16 exponent)."""
    extra: dict[str, ModbusField] = {}
    for member in fields:
        sf = member.scale_factor
        if sf is not None:
            name = scale_factor_name(sf.table, sf.address)
            if name not in extra:
                extra[name] = ModbusField.model_construct(
                    name=name, table=sf.table, address=sf.address, type="int16"
                )
    return [*fields, *extra.values()]


def device_plan(config: ModbusConfig) -> RequestPlan:
    """The requests a device's reads are made of, under its per-device limits: the fields of
    each poll rate planned on their own (a request never mixes rates), with the scale factor
    registers they use."""
    by_rate: dict[float | None, list[ModbusField]] = {}
    for member in config.fields:
        by_rate.setdefault(member.interval, []).append(member)
    requests: list[Request] = []
    for interval, members in by_rate.items():
        plan = plan_requests(
            _with_scale_factors(members),
            max_registers=config.max_registers_per_request,
            max_gap=config.max_gap,
            one_per_field=config.one_request_per_field,
        )
        requests.extend(replace(r, interval=interval) for r in plan.requests)
    return RequestPlan(tuple(requests))
