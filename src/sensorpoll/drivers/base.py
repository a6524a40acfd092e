"""The Driver interface the poll loop sees: open, read one reading of every field, close.

Drivers know their device and its line (via a shared `Bus`), nothing of cycles or export.
"""

from __future__ import annotations

import abc
import asyncio
import ipaddress
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import ClassVar, Generic, Self, TypeVar

from sensorpoll.config.schema import DeviceConfig, Settings
from sensorpoll.drivers.bus import Buses

Value = float | int | bool | str
"""A field's value: numbers, booleans (exported as 0/1) and strings (exported as info)."""
Reading = Mapping[str, Value | None]
"""What one read gives, by field name; None: the field has no valid value this time."""

ConfigT = TypeVar("ConfigT", bound=DeviceConfig)


class ReportWarning(str):
    """A `check_report` line that needs the user's attention: `sensorpoll check` shows it as a
    warning and counts it. Any other line is plain information."""


class Driver(abc.ABC, Generic[ConfigT]):
    """One configured device. The loop owns deadlines, ordering and error classification."""

    config_model: ClassVar[type[DeviceConfig]]
    reasons: ClassVar[tuple[str, ...]] = ("timeout",)
    """The failure reasons this driver's devices commonly give: their error counters are
    exported at 0 from the start (any other reason appears with its first error). A reason
    only some configs can give goes in `reasons_for`."""

    @classmethod
    def reasons_for(cls, config: DeviceConfig) -> tuple[str, ...]:
        """The reasons exported at 0 for the device `config`: `reasons`, and those its
        options add (a serial instrument's `check_errors` adds `instrument_error`)."""
        return cls.reasons

    deadline: float | None = None
    """Seconds the loop gives one read (set by the poller), so a driver can fit the timeouts
    of the library below it inside the deadline; None until the first read."""
    due: frozenset[str] | None = None
    """The fields to read this time (set by the poller before each read), or None for all of
    them. Only a driver whose fields can have poll intervals of their own needs to look at it;
    a driver that reads more than asked is right too."""

    def __init__(self, config: ConfigT, buses: Buses) -> None:
        self.config = config
        self.buses = buses

    async def open(self) -> None:
        """Prepare the connection; idempotent. May do nothing and connect on first read."""

    @abc.abstractmethod
    async def read(self) -> Reading:
        """One reading of every field (or of `due`), keyed by field name; None for a field
        with no valid value this time; raise a `DeviceError` on failure."""

    def begin(self) -> asyncio.Future[Reading] | None:
        """Start a read without a coroutine, when the driver can: return a future that gets
        the reading (or the read's exception), as `read` would return or raise it. The loop
        cancels the future at the deadline (`future.cancelled()` is a timeout); a driver that
        must tidy up then adds its own done callback. Return None to have the loop run `read`
        in a task instead (the default): only worth it for a read that is one send and one
        answer, where a task and its coroutines cost more than the read (10,000 devices)."""
        return None

    def partial(self) -> Reading:
        """What a read cut short by its deadline had read so far (a driver that reads in
        several steps keeps it), so the loop can report a partial read; by default nothing."""
        return {}

    async def aclose(self) -> None:
        """Release what `open` or `read` acquired; idempotent."""

    @classmethod
    def check_report(cls, devices: list[ConfigT], settings: Settings) -> list[str]:
        """Lines `sensorpoll check` prints for this driver's devices (request plans, bus load);
        a `ReportWarning` among them is shown and counted as a warning."""
        return []

    @classmethod
    async def simulate(cls, devices: list[ConfigT], announce: Callable[[str], None]) -> bool:
        """`sensorpoll simulate`: serve stand-ins for `devices` until cancelled, calling
        `announce(line)` to tell the user where each one is. Return False at once when this
        driver has nothing to simulate (the default). Serve only devices whose host passes
        `is_loopback`: a stand-in must never answer in a real device's place."""
        return False

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine's loopback, where `simulate`
    may serve a stand-in."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
