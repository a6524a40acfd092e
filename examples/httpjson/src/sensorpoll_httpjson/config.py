"""The `driver: httpjson` section of a config file: the URL to GET and where each field is
in the JSON document it returns. sensorpoll validates it with these models."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from sensorpoll.config import BusSpec, DeviceConfig, FieldConfig
from sensorpoll.config.schema import ValueKind


class JsonField(FieldConfig):
    """One value taken out of the device's JSON document."""

    key: str | None = Field(
        None,
        description="dotted path of the value in the JSON document, e.g. `meters.0.power` "
        "(a number steps into a list); default: the field's name",
        examples=["meters.0.power"],
    )
    type: Literal["number", "bool", "string"] = Field(
        "number", description="what the value is: a number, a JSON true/false, or text"
    )
    simulate: float | bool | str | None = Field(
        None,
        description="the value `sensorpoll simulate` serves for this field; default: 0, "
        "false or an empty string by `type`",
    )

    @property
    def kind(self) -> ValueKind:
        return self.type

    @property
    def path(self) -> tuple[str, ...]:
        return tuple((self.key or self.name).split("."))


class HttpJsonConfig(DeviceConfig):
    """A device read with one HTTP GET per cycle."""

    driver: Literal["httpjson"] = Field(
        "httpjson", description="`httpjson`: a device with an HTTP JSON status endpoint."
    )
    url: str = Field(
        description="the document to GET each cycle",
        examples=["http://10.0.0.50/rpc/Switch.GetStatus?id=0"],
    )
    fields: tuple[JsonField, ...] = Field(min_length=1, description="the values to read")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
        return url

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def bus(self) -> BusSpec:
        # Embedded web servers often serve one client at a time: every device on one host
        # shares one Bus, so their requests queue instead of racing for the connection.
        return BusSpec(key=f"http:{self.host}:{self.port}", protocol="http", settings=())
