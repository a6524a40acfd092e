"""The config file's pydantic models: top-level settings and the base models drivers extend.

Produced by `config.loader` from YAML; consumed (frozen) by drivers, daemon and export.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sensorpoll.config.types import (
    DeviceName,
    Duration,
    Labels,
    MetricName,
    PositiveDuration,
    Unit,
)

DEFAULT_LISTEN = "127.0.0.1:9847"
DEFAULT_CONFIG_PATH = Path("/etc/sensorpoll/config.yaml")

ValueKind = Literal["number", "bool", "string"]
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, settings are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldConfig(Model):
    """One value a device reads. Drivers subclass this with their own addressing keys."""

    name: MetricName
    unit: Unit | None = None
    labels: Labels = Field(default_factory=dict)

    @property
    def kind(self) -> ValueKind:
        """How the value exports: a number gauge, a 0/1 gauge, or an info-style string."""
        return "number"


@dataclass(frozen=True)
class BusSpec:
    """The physical line a device sits on, for sharing and conflict checks.

    Devices with the same `key` share one connection and one request queue; they must agree
    on `protocol` and `settings`, and no two may have the same `address`.
    """

    key: str  # e.g. "serial:/dev/ttyUSB0" or "tcp-gateway:10.0.0.5:502"
    protocol: str  # what speaks on the line: "modbus-rtu", "ascii", ...
    settings: tuple[tuple[str, Any], ...]  # line settings that must match across devices
    address: str | None = None  # the device's address on the line (e.g. a Modbus unit id)


class DeviceConfig(Model):
    """Keys every device has. A driver's `config_model` subclasses this."""

    name: DeviceName
    driver: str
    timeout: PositiveDuration | None = None  # None: the top-level default
    labels: Labels = Field(default_factory=dict)
    fields: tuple[FieldConfig, ...] = Field(min_length=1)

    def bus(self) -> BusSpec | None:
        """The shared line this device is on, or None if it has a connection of its own."""
        return None

    @field_validator("fields")
    @classmethod
    def _unique_field_names(cls, fields: tuple[FieldConfig, ...]) -> tuple[FieldConfig, ...]:
        seen: set[str] = set()
        for field in fields:
            if field.name in seen:
                raise ValueError(f"field name {field.name!r} is used twice")
            seen.add(field.name)
        return fields


class HttpSettings(Model):
    listen: str = DEFAULT_LISTEN
    web_config: Path | None = None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_listen(value)
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`) into its parts; ValueError naming what is wrong."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


class MetricsSettings(Model):
    namespace: MetricName = "lab"


class JsonlSinkSettings(Model):
    type: Literal["jsonl"]
    path: Path


SinkSettings = JsonlSinkSettings


class Settings(Model):
    """The whole validated config file."""

    interval: PositiveDuration = 1.0
    timeout: Duration | None = None  # None: 80% of the interval
    http: HttpSettings = Field(default_factory=HttpSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    sinks: tuple[SinkSettings, ...] = ()
    # auto: uvloop where it is installed (Linux, macOS), else asyncio's own loop
    event_loop: EventLoopChoice = "auto"
    devices: tuple[DeviceConfig, ...] = Field(min_length=1)

    @field_validator("event_loop")
    @classmethod
    def _loop_available(cls, choice: EventLoopChoice) -> EventLoopChoice:
        if choice == "uvloop" and importlib.util.find_spec("uvloop") is None:
            raise ValueError("uvloop is not installed here; use auto or asyncio")
        return choice

    @property
    def default_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 0.8 * self.interval

    def deadline(self, device: DeviceConfig) -> float:
        """Seconds a read of `device` may take before it counts as a timeout."""
        return device.timeout if device.timeout is not None else self.default_timeout
