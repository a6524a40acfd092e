"""Poll rates of one device in the loop: which grid points it and its fields are due on, and
its last good values carried in between. Only devices with a rate of their own have one.

Kept by `DevicePoller`; the grid index comes from the daemon's schedule (`Grid.index`).
"""

from __future__ import annotations

from collections.abc import Collection

from sensorpoll.config.rates import on_schedule, period, phase
from sensorpoll.config.schema import DeviceConfig
from sensorpoll.drivers.base import Reading, Value


class RateSchedule:
    """A device's period and its fields' (in grid points), and what it read last and when."""

    def __init__(self, config: DeviceConfig, base: float) -> None:
        self.base = base
        device_interval = config.interval if config.interval is not None else base
        self.every = period(device_interval, base)
        self.offset = phase(config.name)
        self.fields = tuple(f.name for f in config.fields)
        self._known = frozenset(self.fields)
        by_period: dict[int, list[str]] = {}
        for field in config.fields:
            every = period(field.poll_interval or device_interval, base)
            by_period.setdefault(every, []).append(field.name)
        self.groups = tuple((every, tuple(names)) for every, names in sorted(by_period.items()))
        self.last_tick: int | None = None  # the grid point of the device's latest read
        self._group_ticks: dict[int, int] = {}  # period -> the grid point it was last read
        self.values: dict[str, Value | None] = {}  # the last good value of each field
        self.read_at: dict[str, float] = {}  # wall clock of the read that gave it

    @staticmethod
    def needed(config: DeviceConfig, base: float) -> bool:
        """Whether `config` reads at anything but every grid point."""
        if config.interval is not None and period(config.interval, base) > 1:
            return True
        return any(f.poll_interval is not None for f in config.fields)

    def _due(self, tick: int, every: int, last: int | None) -> bool:
        if last is None or tick < last or tick - last >= every:  # never, a new grid, skipped
            return True
        return on_schedule(tick, every, self.offset)

    def device_due(self, tick: int) -> bool:
        """Whether the device is read at grid point `tick` (given its last read succeeded)."""
        return self._due(tick, self.every, self.last_tick)

    def due_fields(self, tick: int) -> frozenset[str] | None:
        """The fields to read at `tick` (None: all): those due by their rate, and any without
        a value to carry."""
        if len(self.groups) == 1:
            return None
        due: set[str] = set()
        for every, names in self.groups:
            if self._due(tick, every, self._group_ticks.get(every)):
                due.update(names)
            else:
                due.update(n for n in names if n not in self.values)
        return None if len(due) == len(self.fields) else frozenset(due)

    def record(
        self, tick: int, due: frozenset[str] | None, fresh: Reading, wall: float
    ) -> tuple[dict[str, Value | None], dict[str, float]]:
        """A read at `tick` of the fields `due` gave `fresh`: (every field's value, in field
        order, and the carried ones' read times). A due field missing from `fresh` (a partial
        read) has no value, now and until it is read again."""
        self.last_tick = tick
        for every, names in self.groups:
            if due is None or names[0] in due:
                self._group_ticks[every] = tick
        for name in self.fields if due is None else due:
            if name not in fresh:
                self.values.pop(name, None)
                self.read_at.pop(name, None)
        for name, value in fresh.items():  # a driver may read more than it was asked to
            if name in self._known:
                self.values[name], self.read_at[name] = value, wall
        return self.current(fresh)

    def current(
        self, fresh: Collection[str] = ()
    ) -> tuple[dict[str, Value | None], dict[str, float]]:
        """Every field's last value (None where there is none), and when the ones not in
        `fresh` were read."""
        values = {name: self.values.get(name) for name in self.fields}
        carried = {
            name: self.read_at[name]
            for name in self.fields
            if name not in fresh and name in self.values
        }
        return values, carried

    def forget(self) -> None:
        """The latest read failed: nothing is carried from before it."""
        self.values.clear()
        self.read_at.clear()
        self._group_ticks.clear()
