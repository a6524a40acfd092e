"""The poll schedule a config implies: on which grid points a device or field with its own
interval is read. Used by the poll loop (what is due) and by `check` (the bus time it costs).

Rates are whole multiples of the top-level interval, so the schedule is integer arithmetic on
the grid index: an item with period k (grid points) is due where (index + phase) % k == 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from sensorpoll.config.errors import KeyPath


def period(interval: float | None, base: float) -> int:
    """Grid points between reads of an item with `interval` (None: every point)."""
    if interval is None:
        return 1
    return max(1, round(interval / base))


def is_multiple(interval: float, base: float) -> bool:
    """Whether `interval` is a whole multiple of `base` (float noise forgiven: 0.3 of 0.1)."""
    ratio = interval / base
    return ratio >= 1 - 1e-9 and abs(ratio - round(ratio)) < 1e-6


def phase(name: str) -> int:
    """A stable hash of a device's name: devices of one rate spread over its grid points, the
    same way after every restart. BLAKE2b rather than CRC-32, whose values for names that
    differ in one character (meter_1, meter_2, ...) fall on the same point."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def on_schedule(index: int, every: int, offset: int) -> bool:
    """Whether grid point `index` is one of an item's (period `every`, phase `offset`)."""
    return every == 1 or (index + offset) % every == 0


def rate_problems(
    intervals: Iterable[tuple[KeyPath, float | None, Iterable[tuple[KeyPath, float]]]],
    base: float,
) -> Iterator[tuple[KeyPath, str]]:
    """Every device interval must be a whole multiple of `base`, and every field interval of
    its device's. `intervals`: (device's path, its interval, (field's path, interval)...)."""
    for where, interval, fields in intervals:
        if interval is not None and not is_multiple(interval, base):
            yield (
                (*where, "interval"),
                f"must be a whole multiple of the top-level interval ({interval:g}s is not a "
                f"multiple of {base:g}s)",
            )
            continue
        device = base if interval is None else interval
        for field_where, field_interval in fields:
            if not is_multiple(field_interval, device):
                yield (
                    (*field_where, "interval"),
                    f"must be a whole multiple of the device's interval ({field_interval:g}s "
                    f"is not a multiple of {device:g}s)",
                )
