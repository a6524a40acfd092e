"""The `driver: modbus` config model: transport and line, per-device workarounds, fields.

Validated by the config loader (stage 1); read by the planner, the codec and the driver.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from sensorpoll.config.schema import BusSpec, DeviceConfig, FieldConfig, Model, ValueKind
from sensorpoll.config.types import Duration, PositiveDuration
from sensorpoll.drivers.modbus.codec import (
    BYTE_ORDERS,
    ByteOrder,
    DataType,
    canonical_byte_order,
    register_count,
)
from sensorpoll.drivers.modbus.wire import request_time
from sensorpoll.drivers.signal import Signal

Transport = Literal["tcp", "udp", "rtu", "ascii", "rtu-over-tcp"]
Table = Literal["holding", "input", "coil", "discrete"]
BIT_TABLES: frozenset[str] = frozenset({"coil", "discrete"})
SERIAL_TRANSPORTS: frozenset[str] = frozenset({"rtu", "ascii"})
MAX_REGISTERS = 125  # per read request, Modbus spec (function codes 3 and 4)
MAX_BITS = 2000  # per read request, Modbus spec (function codes 1 and 2)
SERIAL_TURNAROUND = 0.1  # default answer allowance on a shared line, on top of wire time


REGISTER_TABLES: frozenset[str] = frozenset({"holding", "input"})
_BIT_WIDTH = {"int16": 16, "uint16": 16, "int32": 32, "uint32": 32, "int64": 64, "uint64": 64}
_MODICON = re.compile(r"^[0134]\d{4,5}$")


def _address(value: Any) -> Any:
    """A protocol address is a number; text and 1-based register numbers are told apart."""
    if isinstance(value, str):
        hint = ""
        if _MODICON.match(value.strip()):
            hint = (
                "; 40001-style numbers are 1-based register numbers: holding register 40001 "
                "is protocol address 0"
            )
        raise ValueError(
            f"must be a number, the zero-based protocol address, not the text {value!r}{hint}"
        )
    if isinstance(value, bool):
        raise ValueError("must be a number, the zero-based protocol address")
    if isinstance(value, int) and value > 65535:
        if 300001 <= value <= 465536:
            raise ValueError(
                f"{value} is past the last address 65535: 6-digit addresses such as 400001 are "
                "1-based register numbers (4xxxxx: holding register xxxxx); the protocol "
                "address is that number minus 400001"
            )
        raise ValueError(f"{value} is past the last address 65535")
    return value


Address = Annotated[int, BeforeValidator(_address), Field(ge=0, le=65535)]
"""A zero-based protocol address; text and 1-based register numbers are refused clearly."""


class ScaleFactor(Model):
    """A SunSpec-style scale factor: an int16 exponent in a register of the same device."""

    table: Literal["holding", "input"] = Field(
        "holding", description="The table of the scale factor register.", examples=["holding"]
    )
    address: Address = Field(
        description="Zero-based protocol address of the scale factor register.",
        examples=[40084],
    )


class ValidRange(Model):
    """The range a value must lie in (after scale and offset) to count; inclusive."""

    min: float | None = Field(None, description="The smallest valid value.", examples=[0])
    max: float | None = Field(None, description="The largest valid value.", examples=[500])

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self


class ModbusField(FieldConfig):
    table: Table = Field(
        "holding",
        description=(
            "Which Modbus table the field is in: holding or input registers, coil or discrete bits."
        ),
        examples=["input"],
    )
    address: Address = Field(
        description=(
            "Zero-based protocol address of the field's first register or bit "
            "(register 40101 in the 1-based convention is holding address 100)."
        ),
        examples=[100],
    )
    type: DataType | None = Field(
        None,
        description=(
            "How the registers are decoded: int16, uint16, int32, uint32, int64, "
            "uint64, float32, float64, bool or string; default: bool for coils and "
            "discrete inputs, uint16 for registers."
        ),
        examples=["float32"],
    )
    byte_order: ByteOrder = Field(
        "ABCD",
        description=(
            "Order of the bytes on the wire, A the most significant: ABCD "
            "(big-endian), DCBA (little-endian), BADC (bytes swapped in each "
            "register) or CDAB (registers swapped); 64-bit types take the same four "
            "patterns, or their 8-letter names. `sensorpoll probe` shows every order "
            "side by side."
        ),
        examples=["CDAB"],
    )
    scale: float = Field(
        1.0, description="Multiplies the raw value: value = raw * scale + offset.", examples=[0.1]
    )
    offset: float = Field(
        0.0, description="Added after `scale`: value = raw * scale + offset.", examples=[-40]
    )
    count: int | None = Field(
        None,
        ge=1,
        le=MAX_REGISTERS,
        description="How many registers a string spans (strings only).",
        examples=[4],
    )
    interval: PositiveDuration | None = Field(
        None,
        description=(
            "Read this field every so long, a whole multiple of its device's interval "
            "(default: whenever the device is read); fields of each rate get requests of "
            "their own."
        ),
        examples=["1h"],
    )
    bit: int | None = Field(
        None,
        ge=0,
        le=15,
        description=(
            "Read one bit of a holding or input register as a bool (type: bool); 0 is "
            "the least significant. Bit fields of one register share one read."
        ),
        examples=[0],
    )
    bits: tuple[Annotated[int, Field(ge=0, le=15)], Annotated[int, Field(ge=1, le=16)]] | None = (
        Field(
            None,
            description=(
                "[start, length]: a small unsigned number packed in a register, from bit "
                "`start` (0 the least significant) for `length` bits (type uint16)."
            ),
            examples=[[4, 3]],
        )
    )
    invalid: tuple[int | float, ...] = Field(
        (),
        description=(
            "Raw values (before scale) the device sends for 'no value', e.g. [0xFFFF] or "
            "[0x8000] (a signed type's 0x8000 is -32768): such a read gives the field no "
            "value (null, no series) while the device stays up."
        ),
        examples=[[65535]],
    )
    valid: ValidRange | None = Field(
        None,
        description=(
            "The range, after scale and offset, outside which a value is not valid and "
            "the field gets no value: {min, max}, either optional, inclusive."
        ),
        examples=[{"min": 0, "max": 500}],
    )
    scale_factor: ScaleFactor | None = Field(
        None,
        description=(
            "A SunSpec-style scale factor: {table, address} of an int16 exponent register, "
            "read in the same plan; value = raw x 10^sf, then scale and offset."
        ),
        examples=[{"table": "holding", "address": 40084}],
    )
    simulate: Signal | None = Field(
        None,
        description=(
            "What `sensorpoll simulate` serves for this field: a constant `value` or a `waveform`."
        ),
        examples=[{"waveform": "sine", "min": 11, "max": 14}],
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        kind = self.data_type
        if self.table in BIT_TABLES and (self.bit is not None or self.bits is not None):
            raise ValueError(
                "`bit` and `bits` are for holding and input registers; a "
                f"{self.table} is one bit already"
            )
        if self.table in BIT_TABLES and kind != "bool":
            raise ValueError(f"a {self.table} is one bit: its type can only be bool")
        if self.bit is not None and self.bits is not None:
            raise ValueError("give `bit` (one bool) or `bits` (a number), not both")
        if self.bit is not None and kind != "bool":
            raise ValueError(
                "`bit` reads one bit as a bool: set type: bool (or use `bits` for a number)"
            )
        if self.bits is not None:
            if kind != "uint16":
                raise ValueError(
                    "`bits` is a small unsigned number inside one register: its type is uint16"
                )
            start, length = self.bits
            if start + length > 16:
                raise ValueError(f"bits [{start}, {length}] run past bit 15 of the register")
        if kind == "string" and self.count is None:
            raise ValueError("a string needs `count`: how many registers it spans")
        if kind != "string" and self.count is not None:
            raise ValueError(f"`count` is for strings only; {kind} has a fixed size")
        if kind in ("bool", "string") and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError(f"scale and offset apply to numbers, not to {kind}")
        if kind in ("bool", "string") and (self.invalid or self.valid is not None):
            raise ValueError(f"`invalid` and `valid` apply to numbers, not to {kind}")
        if kind in ("bool", "string") and self.scale_factor is not None:
            raise ValueError(f"scale_factor applies to numbers, not to {kind}")
        width = _BIT_WIDTH.get(kind)
        for raw in self.invalid:
            if width is not None and (
                not float(raw).is_integer() or not -(2 ** (width - 1)) <= raw < 2**width
            ):
                raise ValueError(f"invalid value {raw:g} does not fit an {kind} register")
        if register_count(kind, 1) != 4 and len(self.byte_order) == 8:
            raise ValueError(
                f"byte order {self.byte_order} is for 64-bit types; use one of "
                f"{', '.join(o for o in BYTE_ORDERS if len(o) == 4)}"
            )
        if self.address + self.size > 65536:
            raise ValueError(f"spans past the last address 65535 ({self.size} registers)")
        return self

    @property
    def data_type(self) -> DataType:
        if self.type is not None:
            return self.type
        if self.table in BIT_TABLES or self.bit is not None:
            return "bool"
        return "uint16"

    @property
    def order(self) -> ByteOrder:
        """The byte order as one of the four canonical names."""
        return canonical_byte_order(self.byte_order)

    @property
    def size(self) -> int:
        """Registers (or bits, for coil/discrete) this field occupies."""
        if self.table in BIT_TABLES:
            return 1
        return register_count(self.data_type, self.count or 1)

    @property
    def kind(self) -> ValueKind:
        if self.data_type == "bool":
            return "bool"
        if self.data_type == "string":
            return "string"
        return "number"

    @property
    def poll_interval(self) -> float | None:
        return self.interval


class ModbusConfig(DeviceConfig):
    driver: Literal["modbus"] = Field(
        "modbus", description="`modbus`: a Modbus TCP, UDP, RTU, ASCII or RTU-over-TCP device."
    )
    transport: Transport = Field(
        "tcp",
        description=(
            "How the device is reached: tcp, udp, rtu-over-tcp (a serial gateway) "
            "need `host`; rtu and ascii need `port`, the serial device."
        ),
        examples=["rtu"],
    )
    host: str | None = Field(
        None,
        description="Address of the device or gateway for tcp, udp and rtu-over-tcp.",
        examples=["10.0.0.20"],
    )
    port: int | str | None = Field(
        None,
        description=(
            "The TCP/UDP port (default 502), or for rtu and ascii the serial device; "
            "devices naming the same serial port or gateway share one line, one "
            "request at a time."
        ),
        examples=[502, "/dev/ttyUSB0"],
    )
    unit_id: int = Field(
        1,
        ge=0,
        le=255,
        description="The device's Modbus unit (slave) id; unique on a shared line.",
        examples=[3],
    )
    baudrate: int = Field(
        19200,
        gt=0,
        description="Serial line speed (rtu, ascii); must agree across a port's devices.",
        examples=[9600],
    )
    parity: Literal["N", "E", "O"] = Field(
        "N", description="Serial parity: N, E or O (rtu, ascii).", examples=["E"]
    )
    stopbits: Literal[1, 2] = Field(
        1, description="Serial stop bits: 1 or 2 (rtu, ascii).", examples=[1]
    )
    bytesize: Literal[7, 8] = Field(
        8, description="Serial data bits: 8, or 7 (ascii).", examples=[8]
    )
    fields: tuple[ModbusField, ...] = Field(
        min_length=1,
        description=(
            "The registers and bits to read, merged into as few requests as the limits below allow."
        ),
    )
    max_registers_per_request: int = Field(
        MAX_REGISTERS,
        ge=1,
        le=MAX_REGISTERS,
        description=(
            "The most registers one read request may ask for; lower it for devices "
            "that cannot answer 125."
        ),
        examples=[32],
    )
    max_gap: int = Field(
        10,
        ge=0,
        le=MAX_REGISTERS,
        description=("Unused registers a request may read to merge two blocks into one request."),
        examples=[0],
    )
    one_request_per_field: bool = Field(
        False,
        description=(
            "Read every field with a request of its own, for devices that reject a "
            "read spanning two values."
        ),
        examples=[True],
    )
    pause_between_requests: Duration = Field(
        0.0, description="Idle time the device needs between two requests.", examples=["20ms"]
    )
    pause_after_connect: Duration = Field(
        0.0,
        description=(
            "Idle time the device needs after the connection opens, before the first request."
        ),
        examples=["500ms"],
    )
    # how long one request may wait for its answer; None: the deadline on TCP/UDP, and on a
    # shared line the wire time + 100 ms, so a dead unit holds its neighbours up only briefly
    response_timeout: PositiveDuration | None = Field(
        None,
        description=(
            "How long one request may wait for its answer; default: the device's "
            "deadline on tcp and udp, and on a shared line the wire time plus 100 ms, "
            "so a dead unit holds its neighbours up only briefly."
        ),
        examples=["300ms"],
    )

    @model_validator(mode="after")
    def _addressing(self) -> Self:
        if self.transport in SERIAL_TRANSPORTS:
            if not isinstance(self.port, str) or not self.port:
                raise ValueError(f"transport {self.transport} needs `port`: the serial device")
            if self.host is not None:
                raise ValueError(f"transport {self.transport} is serial: `host` does not apply")
        else:
            if not self.host:
                raise ValueError(f"transport {self.transport} needs `host`")
            if isinstance(self.port, str) or not 1 <= self.network_port <= 65535:
                raise ValueError(f"port must be a number 1-65535 for {self.transport}")
        for field in self.fields:
            if field.table not in BIT_TABLES and field.size > self.max_registers_per_request:
                raise ValueError(
                    f"field {field.name} spans {field.size} registers, more than "
                    f"max_registers_per_request ({self.max_registers_per_request})"
                )
        return self

    @property
    def serial(self) -> bool:
        return self.transport in SERIAL_TRANSPORTS

    def answer_timeout(self, count: int, bits: bool) -> float | None:
        """Seconds one request of `count` registers may wait for its answer (None: no limit
        of its own, the device deadline applies)."""
        if self.response_timeout is not None:
            return self.response_timeout
        if self.serial or self.transport == "rtu-over-tcp":
            return request_time(count, self.baudrate, bits=bits, turnaround=SERIAL_TURNAROUND)
        return None

    @property
    def network_port(self) -> int:
        """The TCP/UDP port (502 unless configured)."""
        return self.port if isinstance(self.port, int) else 502

    @property
    def line_key(self) -> str:
        """Which connection this device uses; equal keys share one."""
        if self.serial:
            return f"serial:{self.port}"
        if self.transport == "rtu-over-tcp":
            return f"tcp:{self.host}:{self.network_port}"
        # a connection of its own
        return f"{self.transport}:{self.host}:{self.network_port}:{self.name}"

    def bus(self) -> BusSpec | None:
        if self.serial:
            settings = (
                ("baudrate", self.baudrate),
                ("parity", self.parity),
                ("stopbits", self.stopbits),
                ("bytesize", self.bytesize),
            )
            return BusSpec(self.line_key, f"modbus-{self.transport}", settings, str(self.unit_id))
        if self.transport == "rtu-over-tcp":
            return BusSpec(self.line_key, "modbus-rtu", (), str(self.unit_id))
        return None
