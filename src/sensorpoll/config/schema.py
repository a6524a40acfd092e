"""The config file's pydantic models: top-level settings and the base models drivers extend.

Produced by `config.loader` from YAML; consumed (frozen) by drivers, daemon and export.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sensorpoll.config.types import (
    DeviceName,
    Duration,
    Interval,
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

    name: MetricName = Field(
        description=(
            "The field's name: part of the metric name `<namespace>_<name>[_<unit>]` "
            "and the key in the cycle JSON; [a-zA-Z_][a-zA-Z0-9_]*."
        ),
        examples=["supply_temperature"],
    )
    unit: Unit | None = Field(
        None,
        description=(
            "The unit, appended to the metric name unless the name already ends with "
            "it; prefer Prometheus base units (seconds, celsius, ratio, pascals, "
            "joules, volts), which `sensorpoll check` suggests."
        ),
        examples=["celsius"],
    )
    labels: Labels = Field(
        default_factory=dict,
        description=(
            "Extra labels on this field's series (names must not repeat the device's labels)."
        ),
        examples=[{"channel": "a"}],
    )
    metric: MetricKind = Field(
        "gauge",
        description=(
            "How a number exports: `gauge` (a level), or `counter` for a value that only "
            "grows (energy, events), exported as a counter family `<name>_total`."
        ),
        examples=["counter"],
    )
    help: str | None = Field(
        None,
        description="The HELP text of the field's metric (default: made from its name and unit).",
        examples=["Active energy imported"],
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

    name: DeviceName = Field(
        description=(
            "The device's unique name: the `device` label and the key in the cycle "
            "JSON; [a-zA-Z_][a-zA-Z0-9_-]*."
        ),
        examples=["chiller"],
    )
    driver: str = Field(
        description=(
            "Which driver reads the device: simulated, modbus, serial, or a "
            "third-party one registered under the `sensorpoll.drivers` entry-point "
            "group."
        ),
        examples=["modbus"],
    )
    template: str | None = Field(
        None,
        description=(
            "The template (under `templates:`) this device starts from: its keys, with "
            "the device's own keys replacing them."
        ),
        examples=["power_meter"],
    )
    interval: PositiveDuration | None = Field(
        None,
        description=(
            "Read this device every so long, a whole multiple of the top-level interval "
            "(default: every cycle); between reads its last values are carried."
        ),
        examples=["10s"],
    )
    timeout: PositiveDuration | None = Field(
        None,
        description=(
            "This device's deadline per read (250ms, 2s, ...), overriding the "
            "top-level `timeout`; must be shorter than the interval."
        ),
        examples=["500ms"],
    )
    labels: Labels = Field(
        default_factory=dict,
        description=(
            "Labels on every series of this device, readings and health alike "
            "(`device` and `reason` are reserved)."
        ),
        examples=[{"room": "b12"}],
    )
    fields: tuple[FieldConfig, ...] = Field(
        min_length=1, description="The values the device reads each cycle."
    )

    def bus(self) -> BusSpec | None:
        """The shared line this device is on, or None if it has a connection of its own."""
        return None

    @field_validator("labels")
    @classmethod
    def _no_reason_label(cls, labels: dict[str, str]) -> dict[str, str]:
        if "reason" in labels:
            raise ValueError(
                "label name 'reason' is reserved on devices: sensorpoll_device_errors_total "
                "uses it for the failure reason"
            )
        return labels

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
    listen: str = Field(
        DEFAULT_LISTEN,
        description=(
            "Address of the HTTP server (/metrics, /api/v1/cycle, /healthz, the "
            "status page) as HOST:PORT, IPv6 as [::1]:PORT; 0.0.0.0:9847 listens on "
            "every interface."
        ),
        examples=["0.0.0.0:9847"],
    )
    web_config: Path | None = Field(
        None,
        description=(
            "A Prometheus exporter-toolkit web config file for TLS and basic auth; "
            "relative paths in it are relative to that file."
        ),
        examples=["/etc/sensorpoll/web.yml"],
    )

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
    namespace: MetricName = Field(
        "lab",
        description="Prefix of every reading metric: `<namespace>_<field>[_<unit>]`.",
        examples=["lab"],
    )


class JsonlSinkSettings(Model):
    type: Literal["jsonl"] = Field(
        description="`jsonl`: one line of cycle JSON per cycle appended to `path`."
    )
    path: Path = Field(
        description="The file to append to; reopened on SIGHUP, so logrotate can move it.",
        examples=["/var/lib/sensorpoll/readings.jsonl"],
    )

    @property
    def label(self) -> str:
        """The sink's `sink` label in sensorpoll's own metrics."""
        return f"jsonl:{self.path}"


_TOPIC_FIELD = re.compile(r"\{([^{}]*)\}")


class MqttTlsSettings(Model):
    """TLS to the broker; the key names follow Prometheus' `tls_config`."""

    ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) (PEM) that sign the broker's certificate; "
        "default: the system's trusted CAs.",
    )
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM), for brokers that require one."
    )
    key_file: Path | None = Field(default=None, description="Private key (PEM) of `cert_file`.")
    insecure_skip_verify: bool = Field(
        default=False,
        description="Accept any broker certificate and host name (testing only: "
        "anyone on the path can then read and fake the data).",
    )

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        # checked at load, so `check` and a reload catch it, not the first reconnect
        if path is not None and not path.is_file():
            raise ValueError(f"{path}: no such file")
        return path

    @model_validator(mode="after")
    def _key_with_cert(self) -> MqttTlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


def _tls_switch(value: Any) -> Any:
    # `tls: true` is TLS with every default, `tls: false` none; a mapping is TLS as given
    if value is True:
        return {}
    if value is False:
        return None
    return value


MqttTls = Annotated[
    MqttTlsSettings | None,
    BeforeValidator(_tls_switch),
    WithJsonSchema({"anyOf": [{"type": "boolean"}, MqttTlsSettings.model_json_schema()]}),
]


class MqttSinkSettings(Model):
    """Publishes each device's reading of every cycle as one JSON message."""

    type: Literal["mqtt"] = Field(description="`mqtt`: publish to an MQTT broker.")
    host: str = Field(min_length=1, description="The broker's host name or IP address.")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The broker's TCP port; default 1883, or 8883 with `tls`.",
    )
    topic: str = Field(
        default="sensorpoll/{device}",
        description="Topic of each device's messages; `{device}` is replaced by the device "
        "name (and must appear, so that every device has its own topic).",
    )
    qos: Literal[0, 1, 2] = Field(
        default=0,
        description="MQTT quality of service: 0 at most once, 1 at least once, 2 exactly "
        "once. Use 1 or 2 where every reading must arrive or be counted as dropped.",
    )
    retain: bool = Field(
        default=False,
        description="Ask the broker to keep each device's latest message for new subscribers.",
    )
    tls: MqttTls = Field(
        default=None,
        description="`true` for TLS with the system's CAs, or a mapping with `ca_file`, "
        "`cert_file`, `key_file`, `insecure_skip_verify`.",
    )
    username: str | None = Field(
        default=None, description="User name to log in to the broker with."
    )
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable that holds the password (so it is "
        "never in the config file); read each time the sink connects. Needs `username`.",
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client identifier; default: generated, different on each start.",
    )
    queue_size: int = Field(
        default=10000,
        ge=1,
        description="Messages held while the broker is unreachable; when full, the oldest "
        "are dropped and counted in `sensorpoll_sink_dropped_total`.",
    )

    @field_validator("topic")
    @classmethod
    def _topic_template(cls, topic: str) -> str:
        names = _TOPIC_FIELD.findall(topic)
        if any(name != "device" for name in names):
            unknown = next(name for name in names if name != "device")
            raise ValueError(f"unknown placeholder {{{unknown}}}: only {{device}} is replaced")
        if "device" not in names:
            raise ValueError("must contain {device}: every device publishes to its own topic")
        if "+" in topic or "#" in topic:
            raise ValueError("a topic to publish to cannot contain the wildcards + or #")
        return topic

    @field_validator("password_env")
    @classmethod
    def _password_is_set(cls, name: str | None) -> str | None:
        if name is not None and name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return name

    @model_validator(mode="after")
    def _password_needs_user(self) -> MqttSinkSettings:
        if self.password_env is not None and self.username is None:
            raise ValueError("password_env needs username")
        return self

    @property
    def broker_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8883 if self.tls is not None else 1883

    @property
    def label(self) -> str:
        """The sink's `sink` label in sensorpoll's own metrics."""
        scheme = "mqtts" if self.tls is not None else "mqtt"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.broker_port}/{self.topic}"


def _sink_tag(data: Any) -> str | None:
    kind = data.get("type") if isinstance(data, dict) else getattr(data, "type", None)
    return {"jsonl": "Jsonl", "mqtt": "Mqtt"}.get(kind) if isinstance(kind, str) else None


SinkSettings = Annotated[
    Annotated[JsonlSinkSettings, Tag("Jsonl")] | Annotated[MqttSinkSettings, Tag("Mqtt")],
    Discriminator(
        _sink_tag,
        custom_error_type="sink_type",
        custom_error_message="a sink needs `type:` jsonl or mqtt",
    ),
]


class Settings(Model):
    """The whole validated config file."""

    interval: Interval = Field(
        1.0,
        description=(
            "The cycle period (250ms, 1s, 2m, or seconds; 10ms to 24h): cycles start "
            "on a fixed grid of it, without drift."
        ),
        examples=["1s"],
    )
    timeout: Duration | None = Field(
        None,
        description=(
            "Default deadline of each device's read, shorter than the interval; "
            "default: 80% of the interval."
        ),
        examples=["800ms"],
    )
    include: tuple[str, ...] = Field(
        (),
        description=(
            "Files or globs, relative to this file, whose `templates:` are added to this "
            "file's (one file per instrument model); reread on every reload. A named file "
            "must exist; a glob may match none."
        ),
        examples=[["templates/*.yaml"]],
    )
    templates: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "Named device fragments (any device key but `name`); a device says `template: "
            "NAME` and its own keys replace the template's. Top-level keys starting with "
            "`x-` are ignored, so YAML anchors can live there."
        ),
        examples=[{"power_meter": {"driver": "modbus", "transport": "tcp"}}],
    )
    http: HttpSettings = Field(
        default_factory=HttpSettings,
        description="The HTTP server: where it listens, TLS and basic auth.",
    )
    metrics: MetricsSettings = Field(
        default_factory=MetricsSettings, description="How reading metrics are named."
    )
    sinks: tuple[SinkSettings, ...] = Field((), description="Data logs written once per cycle.")
    devices: tuple[DeviceConfig, ...] = Field(
        min_length=1,
        description=(
            "The devices to poll, each with its `driver`; read concurrently every "
            "cycle, reported in this order."
        ),
    )

    @property
    def default_timeout(self) -> float:
        return self.timeout if self.timeout is not None else 0.8 * self.interval

    def device_interval(self, device: DeviceConfig) -> float:
        """Seconds between reads of `device`: its own interval, or the top-level one."""
        return device.interval if device.interval is not None else self.interval

    def deadline(self, device: DeviceConfig) -> float:
        """Seconds a read of `device` may take before it counts as a timeout."""
        return device.timeout if device.timeout is not None else self.default_timeout
