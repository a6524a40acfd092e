"""Device drivers: each reads one device; typed errors carry a short reason (flow stage 2)."""

from sensorpoll.drivers.base import Driver, ReportWarning, Value, is_loopback
from sensorpoll.drivers.bus import Bus, Buses
from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceError,
    DeviceIOError,
    DeviceTimeout,
    ParseError,
    ProtocolError,
)

__all__ = [
    "Bus",
    "Buses",
    "DeviceConnectionError",
    "DeviceError",
    "DeviceIOError",
    "DeviceTimeout",
    "Driver",
    "ParseError",
    "ProtocolError",
    "ReportWarning",
    "Value",
    "is_loopback",
]
