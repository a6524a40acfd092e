"""A slave's register image that records every read it answers, so a test can count the
requests the line really carried (table, first address, count)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sensorpoll.drivers.modbus.server import UnitImage


@dataclass
class CountingImage(UnitImage):
    requests: list[tuple[str, int, int]] = field(default_factory=list)

    def read(self, table: str, address: int, count: int) -> list[int] | list[bool] | None:
        self.requests.append((table, address, count))
        return super().read(table, address, count)

    def reads_of(self, table: str, address: int) -> int:
        """How many requests starting at `address` of `table` were answered or refused."""
        return sum(1 for t, a, _ in self.requests if (t, a) == (table, address))


def counting(
    holding: dict[int, int] | None = None, **tables: dict[int, int | bool]
) -> CountingImage:
    unit = CountingImage()
    unit.tables["holding"].update(holding or {})
    for table, cells in tables.items():
        unit.tables[table].update(cells)
    return unit
