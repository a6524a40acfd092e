"""Reading gauges: each configured field as `<namespace>_<field>[_<unit>]`, one series a device.

Everything that depends only on the config (names, label text, HELP) is prepared once in a
`ReadingPlan`; rendering a cycle then only formats values, which keeps 10,000 series in ms.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import cast

from sensorpoll.config.schema import FieldConfig, Settings, ValueKind
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.drivers.base import Value
from sensorpoll.export.checks import metric_name, sample_name
from sensorpoll.export.textformat import (
    escape_help,
    escape_label_value,
    format_sample_values,
    labels_text,
)


@dataclass(frozen=True, slots=True)
class FamilyText:
    """One metric family rendered: HELP/TYPE headers for each format (no final newline), and
    the sample lines both formats share, each preceded by a newline, ending with one."""

    text_header: bytes
    om_header: bytes
    samples: bytes


_VALUES = operator.itemgetter(4)
_CARRIED = operator.itemgetter(7)
_PARTIAL = operator.itemgetter(8)
_INVALID = operator.itemgetter(9)
_ITEMS = operator.methodcaller("values")


def values_in_a_row(values: list[Mapping[str, Value | None]]) -> list[Value | None]:
    """Every mapping's values, one mapping after the other, in one C-level pass."""
    try:  # dict's own method: twice as fast as calling each mapping's `values`
        return list(
            itertools.chain.from_iterable(
                map(dict.values, cast("list[dict[str, Value | None]]", values))
            )
        )
    except TypeError:  # a mapping other than a dict
        return list(itertools.chain.from_iterable(map(_ITEMS, values)))


class _Family:
    """A reading family of the plan. Number and bool series sit at fixed positions of the
    cycle's flat value list; string series are looked up by device and field."""

    def __init__(self, kind: ValueKind, text_header: bytes, om_header: bytes) -> None:
        self.kind, self.text_header, self.om_header = kind, text_header, om_header
        self.positions: list[int] = []
        self.prefixes: list[bytes] = []  # b"\nname{labels} " (b'...,field="' for strings)
        self.text_series: list[tuple[str, str]] = []  # string families: (device, field)
        self.take: slice | None = None  # `positions` as a slice, when evenly spaced

    def positions_done(self) -> None:
        positions = self.positions
        if len(positions) == 1:
            self.take = slice(positions[0], positions[0] + 1)
        elif positions and (step := positions[1] - positions[0]) > 0:
            evenly = range(positions[0], positions[-1] + 1, step)
            if positions == list(evenly):
                self.take = slice(evenly.start, evenly.stop, step)


def _help(field: FieldConfig) -> str:
    if field.help:
        return field.help
    if field.kind == "string":
        return f"Text reading {field.name}, in label {field.name}; the value is always 1."
    if field.kind == "bool":
        return f"Reading {field.name} of each device, 1 when true, 0 when false."
    unit = f", in {field.unit}" if field.unit else ""
    if field.metric == "counter":
        return f"Counter {field.name} of each device{unit}, as the device counts it."
    return f"Reading {field.name} of each device{unit}."


def _family_headers(namespace: str, field: FieldConfig) -> tuple[bytes, bytes]:
    samples = sample_name(namespace, field)
    help_text = escape_help(_help(field))
    kind = "counter" if field.metric == "counter" else "gauge"
    text = f"# HELP {samples} {help_text}\n# TYPE {samples} {kind}".encode()
    if field.kind == "string":  # OpenMetrics has a type for it: family `name`, sample `name_info`
        name = metric_name(namespace, field)
        return text, f"# HELP {name} {help_text}\n# TYPE {name} info".encode()
    if kind == "counter":  # OpenMetrics names the family without `_total`; samples keep it
        name = samples.removesuffix("_total")
        return text, f"# HELP {name} {help_text}\n# TYPE {name} counter".encode()
    return text, text


class ReadingPlan:
    """The reading families of one config, in first-seen order, with their series' label text.

    Every number field of every device has a fixed position in one flat list of values, so a
    cycle's values are formatted in one batch and each family picks its lines by position.
    """

    def __init__(self, settings: Settings) -> None:
        families: dict[str, _Family] = {}
        devices: list[tuple[str, tuple[str, ...], bool]] = []
        namespace = settings.metrics.namespace
        position = 0
        for device in settings.devices:
            numbers: list[str] = []
            for field in device.fields:
                samples = sample_name(namespace, field)
                family = families.get(samples)
                if family is None:
                    family = families[samples] = _Family(
                        field.kind, *_family_headers(namespace, field)
                    )
                labels = labels_text({"device": device.name, **device.labels, **field.labels})
                if field.kind == "string":
                    family.prefixes.append(f'\n{samples}{{{labels},{field.name}="'.encode())
                    family.text_series.append((device.name, field.name))
                else:
                    family.prefixes.append(f"\n{samples}{{{labels}}} ".encode())
                    family.positions.append(position)
                    numbers.append(field.name)
                    position += 1
            # A device's values come in field order (DeviceResult): with no string fields,
            # they are the flat list's slice as they are.
            devices.append((device.name, tuple(numbers), len(numbers) == len(device.fields)))
        self._devices = tuple(devices)
        self._names = tuple(name for name, _, _ in devices)
        self._families = tuple(families.values())
        for family in self._families:
            family.positions_done()
        # how many values a plain read of each device has: -1 (none is plain) for a device
        # with fields that are not numbers
        self._lengths = [len(fields) if plain else -1 for _, fields, plain in devices]
        self._has_strings = any(f.kind == "string" for f in self._families)

    def render(self, cycle: Cycle) -> list[FamilyText]:
        """The families of the devices that read successfully; a failed device has no series,
        so its readings go stale in Prometheus instead of repeating an old value."""
        results = cycle.devices
        if cycle.device_names == self._names:
            flat, missing = self._values_in_order(cycle)
        else:  # not the devices of this config: match them by name
            flat, missing = self._values_by_name(results)
        texts = format_sample_values(flat)
        ok: dict[str, Mapping[str, Value | None]] = {}
        if self._has_strings:  # a failed read has no values; a partial one has some
            ok = {result.device: result.values for result in results if result.values}
        out: list[FamilyText] = []
        for family in self._families:
            if family.kind == "string":
                samples = _string_samples(family, ok)
            else:
                samples = _number_samples(family, flat, texts, missing)
            if samples:
                out.append(FamilyText(family.text_header, family.om_header, samples))
        return out

    def _values_in_order(self, cycle: Cycle) -> tuple[list[Value | None], bool]:
        """Every number field's value at its position, None where there is none; and whether
        there is a None. The cycle's devices are this config's, in its order.

        Devices that read all their fields, none invalid or carried, and have only number
        fields (the usual) are taken in C-level passes; Python works on the others alone."""
        results = cycle.devices
        values = list(map(_VALUES, results))
        flat: list[Value | None] = []
        missing, begin = False, 0
        for position in [*self._odd_positions(cycle, values), len(results)]:
            flat += values_in_a_row(values[begin:position])  # values come in field order
            begin = position + 1
            if position == len(results):
                break
            result, fields = results[position], self._devices[position][1]
            if not result.values:  # a failed read (a partial one keeps what it read)
                flat += [None] * len(fields)
                missing = missing or bool(fields)
            else:
                chunk = list(map(result.values.get, fields))
                missing = missing or None in chunk
                flat += chunk
        return flat, missing

    def _odd_positions(self, cycle: Cycle, values: list[Mapping[str, Value | None]]) -> list[int]:
        """Where a device's values are not its number fields' as they are: a failed or
        partial read, invalid or carried values, or fields that are not numbers."""
        results, lengths = cycle.devices, list(map(len, values))
        if lengths == self._lengths and not (
            cycle.has_invalid or any(map(_PARTIAL, results)) or any(map(_CARRIED, results))
        ):
            return []
        odd = set(compress(range(len(results)), map(operator.ne, lengths, self._lengths)))
        for getter in (_INVALID, _PARTIAL, _CARRIED):
            if any(map(getter, results)):
                odd.update(compress(range(len(results)), map(getter, results)))
        return sorted(odd)

    def _values_by_name(self, results: Sequence[DeviceResult]) -> tuple[list[Value | None], bool]:
        ok = {result.device: result.values for result in results if result.values}
        flat: list[Value | None] = []
        for device, fields, _ in self._devices:
            values = ok.get(device, {})
            flat.extend(map(values.get, fields))
        return flat, None in flat


def _number_samples(
    family: _Family, flat: list[Value | None], texts: list[bytes], missing: bool
) -> bytes:
    take = family.take
    lines = texts[take] if take is not None else [texts[i] for i in family.positions]
    prefixes: Sequence[bytes] = family.prefixes
    values = (
        (flat[take] if take is not None else [flat[i] for i in family.positions]) if missing else []
    )
    if missing and None in values:  # some devices failed: keep the series of those that read
        present = [value is not None for value in values]
        prefixes = list(itertools.compress(prefixes, present))
        lines = list(itertools.compress(lines, present))
        if not lines:
            return b""
    parts: list[bytes] = [b""] * (2 * len(lines) + 1)
    parts[0:-1:2] = prefixes
    parts[1:-1:2] = lines
    parts[-1] = b"\n"
    return b"".join(parts)


def _string_samples(family: _Family, ok: Mapping[str, Mapping[str, Value | None]]) -> bytes:
    parts = [
        prefix + escape_label_value(str(value)).encode("utf-8", "replace") + b'"} 1'
        for (device, field), prefix in zip(family.text_series, family.prefixes, strict=True)
        if (values := ok.get(device)) is not None and (value := values.get(field)) is not None
    ]
    if not parts:
        return b""
    parts.append(b"\n")
    return b"".join(parts)
