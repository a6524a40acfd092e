"""The `serial` driver's config model: transport and line, queries, handshakes, SCPI options.

Validated by the loader like every device section; read by the line, driver, reply and
simulation modules of this package. A device's queries and their fields are in `query.py`.
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, PositiveInt, model_validator

from sensorpoll.config.schema import BusSpec, DeviceConfig
from sensorpoll.config.types import Duration
from sensorpoll.drivers.serial.query import Query, SerialField, check_reply_layout
from sensorpoll.drivers.serial.text import NonEmptyEscaped

__all__ = ["Query", "SerialConfig", "SerialField", "Transport"]

PROTOCOL = "ascii-instrument"  # BusSpec protocol: a port is ASCII or Modbus, never both
ERROR_QUERY = "SYST:ERR?"  # SCPI's error queue (IEEE 488.2 / SCPI-99 21.8)
IDENTIFY_QUERY = "*IDN?"
LINE_SETTINGS = ("baudrate", "bytesize", "parity", "stopbits")
UNSUPPORTED_URLS = ("socket://", "rfc2217://")

Transport = Literal["serial", "tcp"]


def _stopbits(value: float) -> float:
    if value not in (1, 1.5, 2):
        raise ValueError("must be 1, 1.5 or 2")
    return value


StopBits = Annotated[float, AfterValidator(_stopbits)]


class SerialConfig(DeviceConfig):
    """An ASCII request/response instrument on a serial line (RS-232, RS-485, USB serial) or a
    TCP socket (LXI raw socket, serial device server in TCP server mode)."""

    driver: Literal["serial"] = Field(
        "serial",
        description=(
            "`serial`: an ASCII request/response instrument (SCPI, Lakeshore, "
            "Pfeiffer, RS-485 modules) on a serial port or a TCP socket."
        ),
    )
    transport: Transport = Field(
        "serial",
        description="serial: a local port (`port` is its path); tcp: a socket (`host` and `port`)",
    )
    host: str | None = Field(
        None,
        min_length=1,
        description="with transport tcp: the instrument's or device server's address",
    )
    # devices naming the same port (or host:port) share one line and queue
    port: str | int = Field(
        description="serial: the device path, e.g. /dev/ttyUSB0; tcp: the TCP port, e.g. 5025"
    )
    baudrate: PositiveInt = Field(
        9600,
        description=(
            "Serial line speed (transport serial); must agree across a port's instruments."
        ),
        examples=[9600],
    )
    bytesize: Literal[5, 6, 7, 8] = Field(8, description="Data bits: 5, 6, 7 or 8.", examples=[7])
    parity: Literal["N", "E", "O", "M", "S"] = Field(
        "N",
        description="Parity: N (none), E (even), O (odd), M (mark) or S (space).",
        examples=["O"],
    )
    stopbits: StopBits = Field(1, description="Stop bits: 1, 1.5 or 2.", examples=[1])
    command: NonEmptyEscaped | None = Field(
        None,
        description=(
            "The command sent each cycle, as is (or give `queries`); `\\r`, `\\n`, "
            "`\\t`, `\\0` and `\\xHH` are decoded in any YAML quoting."
        ),
        examples=["MEAS?\\r\\n"],
    )
    queries: tuple[Query, ...] | None = Field(
        None,
        min_length=1,
        description="several commands per reading, run in order under one deadline and one hold "
        "of the line; in place of command/parse/split/fields",
    )
    terminator: NonEmptyEscaped = Field(
        "\n",
        description=("What ends the instrument's reply; whitespace around the reply is stripped."),
        examples=["\\r\\n"],
    )
    encoding: str = Field(
        "ascii",
        description="How text is encoded on the line (a Python codec name).",
        examples=["latin-1"],
    )
    echo: bool = Field(
        False,
        description="The instrument echoes each command before its reply: skip the echo.",
        examples=[True],
    )
    init: tuple[NonEmptyEscaped, ...] = Field(
        (),
        description=(
            "Commands sent once after each (re)open of the port, e.g. `*RST`; their "
            "answers are discarded; the command's line ending is appended when one "
            "lacks it."
        ),
        examples=[["*CLS", "UNIT K"]],
    )
    init_delay: Duration = Field(
        0.1, description="Pause after each `init` command.", examples=["200ms"]
    )
    identify: bool = Field(
        False,
        description="Send `*IDN?` once after each (re)open and log the answer.",
        examples=[True],
    )
    check_errors: bool = Field(
        False,
        description="SCPI: send SYST:ERR? after the queries; a non-zero answer is the device "
        "error instrument_error and the cycle's values are dropped",
    )
    # After a timed-out read, the next command on the port waits this long at most for the
    # late answer (and drops it), so it is never taken for the next command's reply.
    late_reply_wait: Duration = Field(
        0.5,
        description=(
            "After a timed-out read, how long the next command on the port waits at "
            "most for the late answer (and drops it), so it is never taken for the "
            "next command's reply."
        ),
        examples=["1s"],
    )
    parse: str | None = Field(
        None,
        description=(
            "With `command`: a regular expression that must match the whole reply; "
            "its named groups are the fields."
        ),
        examples=["(?P<t1>-?[\\d.]+),(?P<t2>-?[\\d.]+)"],
    )
    split: NonEmptyEscaped | None = Field(
        None,
        description=(
            "With `command`, instead of `parse`: split the reply at this text and "
            "take each field's `index`."
        ),
        examples=[","],
    )
    fields: tuple[SerialField, ...] = Field(
        (),
        description=(
            "The values in the reply of `command`; with `queries`, each query lists its own."
        ),
    )

    @property
    def is_tcp(self) -> bool:
        return self.transport == "tcp"

    @property
    def line_name(self) -> str:
        """The line as logs and `check` name it: the port's path, or host:port."""
        return f"{self.host}:{self.port}" if self.is_tcp else str(self.port)

    @property
    def tcp_port(self) -> int:
        return int(self.port)

    @property
    def all_queries(self) -> tuple[Query, ...]:
        """The device's queries in order: `queries:`, or the one its `command` makes."""
        if self.queries is not None:
            return self.queries
        assert self.command is not None  # checked by _one_way_to_ask
        return (
            Query(command=self.command, parse=self.parse, split=self.split, fields=self.fields),
        )

    @property
    def line_ending(self) -> str:
        """The first command's trailing CR/LF: appended to `init`, `*IDN?` and `SYST:ERR?`
        when they lack one."""
        command = self.all_queries[0].command
        return command[len(command.rstrip("\r\n")) :]

    def with_line_ending(self, text: str) -> str:
        return text if text.endswith(("\r", "\n")) else text + self.line_ending

    def bus(self) -> BusSpec:
        if self.is_tcp:
            return BusSpec(key=f"tcp:{self.host}:{self.port}", protocol=PROTOCOL, settings=())
        settings = tuple((key, getattr(self, key)) for key in LINE_SETTINGS)
        return BusSpec(key=f"serial:{self.port}", protocol=PROTOCOL, settings=settings)

    @model_validator(mode="before")
    @classmethod
    def _tcp_port_from_text(cls, data: Any) -> Any:
        # A port from ${ENV} is always a string; with transport tcp it means a number.
        if isinstance(data, dict) and data.get("transport") == "tcp":
            port = data.get("port")
            if isinstance(port, str) and port.strip().isdigit():
                return {**data, "port": int(port)}
        return data

    @model_validator(mode="after")
    def _transport_has_its_address(self) -> Self:
        port = self.port
        if self.is_tcp:
            if self.host is None:
                raise ValueError("transport tcp needs host (and port, e.g. 5025)")
            if isinstance(port, str):
                raise ValueError(
                    f"port: with transport tcp, port is a TCP port number such as 5025, "
                    f"not {port!r}"
                )
            if not 1 <= port <= 65535:
                raise ValueError(f"port: {port} is out of range 1-65535")
            given = [key for key in LINE_SETTINGS if key in self.model_fields_set]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: line settings are set on the device server itself, "
                    "not here (transport tcp)"
                )
            return self
        if self.host is not None:
            raise ValueError(
                "host is for transport tcp; add transport: tcp, or give a serial port's path "
                "in port"
            )
        if isinstance(port, int):
            raise ValueError(
                f"port: {port} is a TCP port; for an instrument on the network set "
                "transport: tcp and host"
            )
        if not port:
            raise ValueError("port: must not be empty")
        for scheme in UNSUPPORTED_URLS:
            if port.startswith(scheme):
                raise ValueError(
                    f"port: {scheme} URLs are not supported; for an instrument on the network or "
                    "a serial device server in TCP server mode use transport: tcp with host and "
                    "port"
                )
        return self

    @model_validator(mode="after")
    def _one_way_to_ask(self) -> Self:
        if self.queries is None:
            if self.command is None:
                raise ValueError("give command (with its fields) or queries")
            if not self.fields:
                raise ValueError("fields: give at least one field")
            check_reply_layout(self.parse, self.split, self.fields)
            return self
        given = [k for k in ("command", "parse", "split", "fields") if k in self.model_fields_set]
        if given:
            raise ValueError(
                f"{', '.join(given)}: with queries, each query gives its own command, parse or "
                "split, and fields"
            )
        fields = tuple(field for query in self.queries for field in query.fields)
        seen: set[str] = set()
        for field in fields:
            if field.name in seen:
                raise ValueError(f"field name {field.name!r} is used in two queries")
            seen.add(field.name)
        self.__dict__["fields"] = fields  # the device's fields are its queries' fields
        return self

    @model_validator(mode="after")
    def _encodable(self) -> Self:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"encoding: unknown encoding {self.encoding!r}") from None
        texts: dict[str, str | None] = {"terminator": self.terminator}
        if self.queries is None:
            texts.update(command=self.command, split=self.split)
        else:
            for i, query in enumerate(self.queries):
                texts.update({f"queries[{i}].{k}": t for k, t in query.texts().items()})
        texts.update({f"init[{i}]": text for i, text in enumerate(self.init)})
        for key, text in texts.items():
            if text is None:
                continue
            try:
                text.encode(self.encoding)
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"{key}: {text!r} cannot be encoded as {self.encoding} ({exc.reason})"
                ) from None
        return self
