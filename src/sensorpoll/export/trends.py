"""The status page's memory: each number field's last ten minutes, for its sparkline.

Fed by every published cycle; bounded: at most POINTS points per field whatever the interval
or uptime, in fixed-size float32 arrays allocated once per device.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from sensorpoll.config.schema import Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.drivers.base import Value

WINDOW = 600.0  # seconds a sparkline spans
POINTS = 120  # points per field at most: one per 5 s of the window, or one per cycle if slower
_NEVER = -1


class DeviceTrend:
    """One device's ring of points: point i holds the numbers read in slot `slots[i]`, one
    float32 per number field (NaN: no valid value), fields in config order."""

    def __init__(self, names: tuple[str, ...], points: int, only_numbers: bool = False) -> None:
        self.names = names
        self.width = len(names)
        # the device has no other fields: a full read's values are the row as they are
        self.only_numbers = only_numbers
        self.column = {name: j for j, name in enumerate(names)}
        self.slots = array("q", [_NEVER] * points)
        self.values = array("f", [math.nan]) * (points * len(names))

    def write(self, index: int, slot: int, values: Mapping[str, Value | None]) -> None:
        width = self.width
        try:
            if self.only_numbers and len(values) == width:  # in field order (DeviceResult)
                row = array("f", cast("Iterable[float]", values.values()))
            else:
                row = array("f", cast("list[float]", [values.get(name) for name in self.names]))
        except TypeError:  # a field without a valid value (None) or a driver's odd value
            numbers = [values.get(name) for name in self.names]
            row = array("f", [v if isinstance(v, int | float) else math.nan for v in numbers])
        self.values[index * width : (index + 1) * width] = row
        self.slots[index] = slot


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
        self.devices: dict[str, DeviceTrend] = {}
        self._fields: dict[str, tuple[str, ...]] = {}
        self._cycles_per_slot = max(1, math.floor(self.slot_s / settings.interval))
        self._slot = _NEVER  # the latest cycle's slot
        self._nth = 0  # which of the slot's cycles the latest was: 0, 1, ...
        self.reconfigure(settings)

    def reconfigure(self, settings: Settings) -> None:
        """Fields as configured now; a device whose number fields changed starts afresh."""
        self._fields = {
            device.name: tuple(f.name for f in device.fields if f.kind == "number")
            for device in settings.devices
        }
        self._only_numbers = {
            device.name
            for device in settings.devices
            if all(f.kind == "number" for f in device.fields)
        }
        for name in list(self.devices):
            if self._fields.get(name) != self.devices[name].names:
                del self.devices[name]

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
        index = slot % self.points
        trends = self.devices
        for result in devices[start : start + share]:
            if not result.ok:
                continue
            trend = trends.get(result.device)
            if trend is None:
                names = self._fields.get(result.device)
                if not names:  # no number fields, or not in the config (being reloaded)
                    continue
                only_numbers = result.device in self._only_numbers
                trend = trends[result.device] = DeviceTrend(names, self.points, only_numbers)
            trend.write(index, slot, result.values)

    def series(self, device: str, name: str) -> Series | None:
        """The field's points within the window, or None if it has no numbers in it."""
        trend = self.devices.get(device)
        column = trend.column.get(name) if trend is not None else None
        if trend is None or column is None:
            return None
        values = trend.values[column :: len(trend.names)]
        latest, points = self._slot, []
        for slot in range(latest - self.points + 1, latest + 1):
            index = slot % self.points
            value = values[index]
            if trend.slots[index] == slot and math.isfinite(value):
                points.append(((latest - slot) * self.slot_s, value))
        return Series(tuple(points)) if points else None
