"""The config file's pydantic models: top-level settings and the base models drivers extend.

Produced by `config.loader` from YAML; consumed (frozen) by drivers, daemon and export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
MetricKind = Literal["gauge", "counter"]


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, settings are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldConfig(Model):
    """One value a device reads. Drivers subclass this with their own addressing keys."""

    name: MetricName
    unit: Unit | None = None
    labels: Labels = Field(default_factory=dict)
    metric: MetricKind = Field(
        "gauge",
        description="How a number exports: `gauge` (a level), or `counter` for a value that "
        "only grows (energy, events): a counter family `<name>_total`",
    )
    help: str | None = Field(
        None,
        description="The metric's HELP text in the exposition (default: made from the name "
        "and unit)",
    )

    @property
    def kind(self) -> ValueKind:
        """How the value exports: a number gauge, a 0/1 gauge, or an info-style string."""
        return "number"

    @property
    def poll_interval(self) -> float | None:
        """Seconds between reads of this field, when it has a rate of its own (drivers whose
        fields can, e.g. Modbus); None: whenever its device is read."""
        return None

    @model_validator(mode="after")
    def _counter_is_a_number(self) -> Self:
        if self.metric == "counter" and self.kind != "number":
            raise ValueError(f"metric: counter is for numbers, not for {self.kind}")
        return self


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
    template: str | None = Field(
        None,
        description="The name of a template under `templates:` whose keys this device "
        "starts from; its own keys replace the template's",
    )
    interval: PositiveDuration | None = Field(
        None,
        description="Read this device every so long, a whole multiple of the top-level "
        "interval (default: every cycle); between reads its last values are carried",
    )
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
    include: tuple[str, ...] = Field(
        (),
        description="Files (or globs) whose `templates:` are added to this file's, relative "
        "to this file; reread on every reload",
    )
    templates: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named device fragments: any device key but `name`. A device says "
        "`template: NAME` and its own keys replace the template's",
    )
    http: HttpSettings = Field(default_factory=HttpSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    sinks: tuple[SinkSettings, ...] = ()
    devices: tuple[DeviceConfig, ...] = Field(min_length=1)

    @property
    def default_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 0.8 * self.interval

    def device_interval(self, device: DeviceConfig) -> float:
        """Seconds between reads of `device`: its own interval, or the top-level one."""
        return device.interval if device.interval is not None else self.interval

    def deadline(self, device: DeviceConfig) -> float:
        """Seconds a read of `device` may take before it counts as a timeout."""
        return device.timeout if device.timeout is not None else self.default_timeout
