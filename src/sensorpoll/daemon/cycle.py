"""The cycle snapshot: what every device read in one poll, in configuration order.

Produced by `daemon.poller`; everything in `export/` is a pure function of the latest one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from sensorpoll.drivers.base import Value


class DeviceResult(NamedTuple):
    """One device's outcome in one cycle. A failed device has no values, never stale ones.

    A NamedTuple rather than a frozen dataclass: as immutable, and three times cheaper to
    build, which counts at one per device per cycle."""

    device: str
    ok: bool
    error: str | None  # short reason: timeout, connection, io, parse, modbus_exception:2, ...
    duration_s: float
    values: Mapping[str, Value]  # field name -> value, in field order; empty when not ok
    detail: str | None = None  # the human-readable error text (logs, status page)
    attempted: bool = True  # False while the device is in backoff and was not read


@dataclass(frozen=True, slots=True)
class Cycle:
    """One finished poll of every device. Immutable; shared by every exporter."""

    number: int  # 1, 2, 3, ... with no gaps
    started: float  # wall clock, seconds since the epoch
    started_monotonic: float  # the event loop's clock, for ages and health
    duration_s: float
    devices: tuple[DeviceResult, ...]  # configuration order
    overruns_total: int = 0  # cycles so far that ran past their grid slot

    @property
    def failed(self) -> int:
        return sum(1 for d in self.devices if not d.ok)
