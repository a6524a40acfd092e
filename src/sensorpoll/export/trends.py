"""The status page's memory: each number field's last ten minutes, for its sparkline.

Fed by every published cycle; bounded: at most POINTS points per field whatever the interval
or uptime, in fixed-size arrays allocated when the config is taken: one float32 row of every
device's numbers per point, so a cycle's share of the devices is copied in one go.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import cast

from sensorpoll.config.schema import Settings
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.drivers.base import Value
from sensorpoll.export.readings import values_in_a_row

WINDOW = 600.0  # seconds a sparkline spans
POINTS = 120  # points per field at most: one per 5 s of the window, or one per cycle if slower
_NEVER = -1
_OK = operator.itemgetter(1)  # DeviceResult fields, by position: C-level over a share
_VALUES = operator.itemgetter(4)


def _numbers(names: tuple[str, ...], values: Mapping[str, Value | None]) -> array[float]:
    """The named fields' values as float32, NaN where there is none."""
    row = [values.get(name) for name in names]
    try:
        return array("f", cast("list[float]", row))
    except TypeError:  # a field without a valid value (None) or a driver's odd value
        return array("f", [v if isinstance(v, int | float) else math.nan for v in row])


class DeviceTrend:
    """One device's place in the rings: its number fields (config order) are columns
    `offset`, `offset + 1`, ... of every point's row, and its slot stamps column `position`.
    Point i of the device holds the numbers read in slot `slots[i]` (NaN: no valid value)."""

    def __init__(self, rings: Trends, names: tuple[str, ...], offset: int, position: int) -> None:
        self.names = names
        self.column = {name: j for j, name in enumerate(names)}
        self.offset, self.position = offset, position
        self._rings = rings

    @property
    def slots(self) -> array[int]:
        """The slot each point was read in (a copy)."""
        rings = self._rings
        return rings.stamps[self.position :: rings.count]

    @property
    def values(self) -> array[float]:
        """The device's points, point-major: field j of point i at `i * len(names) + j` (a
        copy)."""
        rings, width = self._rings, len(self.names)
        values = array("f", [math.nan]) * (rings.points * width)
        for j in range(width):
            values[j::width] = self.field(j)
        return values

    def field(self, j: int) -> array[float]:
        """Field j's value at each point (a copy)."""
        rings = self._rings
        return rings.rows[self.offset + j :: rings.width]

    def write(self, index: int, slot: int, values: Mapping[str, Value | None]) -> None:
        rings = self._rings
        start = index * rings.width + self.offset
        rings.rows[start : start + len(self.names)] = _numbers(self.names, values)
        rings.stamps[index * rings.count + self.position] = slot


@dataclass(frozen=True)
class Series:
    """A field's points over the window, oldest first: (seconds before the latest, value)."""

    points: tuple[tuple[float, float], ...]

    @property
    def values(self) -> list[float]:
        return [value for _, value in self.points]


class Trends:
    """One reading of each device in each `slot_s`-long slot of the window.

    Sampling rather than averaging costs one copy of each device's numbers per slot, not per
    cycle. Booleans and text have no trend.
    """

    def __init__(self, settings: Settings) -> None:
        self.slot_s = max(WINDOW / POINTS, settings.interval)  # at least one cycle per point
        self.points = max(2, math.ceil(WINDOW / self.slot_s))
        self.devices: dict[str, DeviceTrend] = {}  # the devices with number fields
        self.width = 0  # numbers in a row: every device's number fields
        self.count = 0  # devices, each with a slot stamp per point
        self.rows = array("f")  # point i's numbers at [i * width, (i + 1) * width)
        self.stamps = array("q")  # point i's slot for each device at [i * count, ...)
        self._names: tuple[str, ...] = ()  # the config's devices, in its order
        self._trends: tuple[DeviceTrend | None, ...] = ()  # of each, None without numbers
        self._offsets: list[int] = [0]  # each device's first column; the last is `width`
        # each device's number fields, how many; -1 for a device with other fields too
        self._lengths: list[int] = []
        self._cycles_per_slot = max(1, math.floor(self.slot_s / settings.interval))
        self._slot = _NEVER  # the latest cycle's slot
        self._nth = 0  # which of the slot's cycles the latest was: 0, 1, ...
        self.reconfigure(settings)

    def reconfigure(self, settings: Settings) -> None:
        """Fields as configured now; a device whose number fields changed starts afresh."""
        old, old_width, old_count = self.devices, self.width, self.count
        old_rows, old_stamps = self.rows, self.stamps
        self._names = tuple(device.name for device in settings.devices)
        self.count = len(settings.devices)
        trends: list[DeviceTrend | None] = []
        self._offsets, self._lengths = [], []
        self.devices, offset = {}, 0
        for position, device in enumerate(settings.devices):
            names = tuple(f.name for f in device.fields if f.kind == "number")
            self._offsets.append(offset)
            self._lengths.append(len(names) if len(names) == len(device.fields) else -1)
            trend = DeviceTrend(self, names, offset, position) if names else None
            if trend is not None:
                self.devices[device.name] = trend
            trends.append(trend)
            offset += len(names)
        self._offsets.append(offset)
        self._trends, self.width = tuple(trends), offset
        self.rows = array("f", [math.nan]) * (self.points * self.width)
        self.stamps = array("q", [_NEVER]) * (self.points * self.count)
        for name, trend in self.devices.items():  # kept: the points so far, in their new place
            before = old.get(name)
            if before is None or before.names != trend.names:
                continue
            self.stamps[trend.position :: self.count] = old_stamps[before.position :: old_count]
            for j in range(len(trend.names)):
                column = old_rows[before.offset + j :: old_width]
                self.rows[trend.offset + j :: self.width] = column

    def observe(self, cycle: Cycle) -> None:
        slot = int(cycle.started_monotonic // self.slot_s)
        if slot != self._slot:
            self._slot, self._nth = slot, 0
        else:
            self._nth += 1
        # Each cycle of a slot samples its share of the devices, so the copying is spread
        # evenly over the slot's cycles instead of landing on one. A device down at its
        # turn leaves a gap: its point is the reading of that moment.
        devices = cycle.devices
        share = math.ceil(len(devices) / self._cycles_per_slot)
        start = self._nth * share
        if start >= len(devices):
            return
        end = min(start + share, len(devices))
        index = slot % self.points
        if cycle.device_names != self._names:  # not this config's (being reloaded)
            for result in devices[start:end]:
                trend = self.devices.get(result.device)
                if result.ok and trend is not None:
                    trend.write(index, slot, result.values)
            return
        results = devices[start:end]
        row, failed = self._row(results, start, index)
        first = index * self.width
        self.rows[first + self._offsets[start] : first + self._offsets[end]] = row
        first = index * self.count
        kept = [self.stamps[first + position] for position in failed]
        self.stamps[first + start : first + end] = array("q", [slot]) * (end - start)
        for position, stamp in zip(failed, kept, strict=True):
            self.stamps[first + position] = stamp

    def _row(
        self, results: Sequence[DeviceResult], start: int, index: int
    ) -> tuple[array[float], list[int]]:
        """The share's numbers, and the positions of the devices that failed: their numbers
        and slots at the point stay as they were. Runs of devices that read all their fields
        and have no other fields are copied as their values are (field order), in C."""
        values = list(map(_VALUES, results))
        lengths = self._lengths[start : start + len(results)]
        odd = set(compress(range(len(results)), map(operator.ne, map(len, values), lengths)))
        if not all(map(_OK, results)):
            odd.update(compress(range(len(results)), map(operator.not_, map(_OK, results))))
        row, failed, begin = array("f"), list[int](), 0
        for position in [*sorted(odd), len(results)]:
            try:
                row += array("f", cast("list[float]", values_in_a_row(values[begin:position])))
            except TypeError:  # a None or a driver's odd value: device by device
                for one in range(begin, position):
                    row += self._device_row(results[one], start + one, index, failed)
            if position < len(results):
                row += self._device_row(results[position], start + position, index, failed)
            begin = position + 1
        return row, failed

    def _device_row(
        self, result: DeviceResult, position: int, index: int, failed: list[int]
    ) -> array[float]:
        trend = self._trends[position]
        if trend is None:
            return array("f")
        if result.ok:
            return _numbers(trend.names, result.values)
        failed.append(position)
        offset = index * self.width + trend.offset
        return self.rows[offset : offset + len(trend.names)]

    def series(self, device: str, name: str) -> Series | None:
        """The field's points within the window, or None if it has no numbers in it."""
        trend = self.devices.get(device)
        column = trend.column.get(name) if trend is not None else None
        if trend is None or column is None:
            return None
        values, slots = trend.field(column), trend.slots
        latest, points = self._slot, []
        for slot in range(latest - self.points + 1, latest + 1):
            index = slot % self.points
            value = values[index]
            if slots[index] == slot and math.isfinite(value):
                points.append(((latest - slot) * self.slot_s, value))
        return Series(tuple(points)) if points else None
