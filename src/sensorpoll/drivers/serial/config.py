"""The `serial` driver's config model: line settings, command, reply parsing, simulation hints.

Validated by the loader like every device section; read by the line, driver, reply and
simulation modules of this package.
"""

from __future__ import annotations

import codecs
import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, NonNegativeInt, PositiveInt, model_validator

from sensorpoll.config.schema import (
    BusSpec,
    DeviceConfig,
    FieldConfig,
    ValueKind,
)
from sensorpoll.config.types import Duration
from sensorpoll.drivers.signal import Signal

PROTOCOL = "ascii-instrument"  # BusSpec protocol: a port is ASCII or Modbus, never both

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}


def decode_escapes(text: str) -> str:
    """Decode `\\r \\n \\t \\0 \\\\ \\xHH` in `text`.

    YAML double quotes ("MEAS?\\r\\n") already turn escapes into control characters; plain and
    single-quoted strings ('MEAS?\\r\\n') keep the backslashes. Decoding here makes both
    spellings mean the same bytes; text without backslashes passes unchanged. A literal
    backslash is written `\\\\` after YAML's own decoding.
    """

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            return chr(int(code[1:], 16))
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        raise ValueError(
            f"unknown escape \\{code!s} in {text!r}: use \\r \\n \\t \\0 \\xHH, or \\\\ for a "
            "backslash"
        )

    return _ESCAPE.sub(replace, text)


def _non_empty(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _stopbits(value: float) -> float:
    if value not in (1, 1.5, 2):
        raise ValueError("must be 1, 1.5 or 2")
    return value


StopBits = Annotated[float, AfterValidator(_stopbits)]


Escaped = Annotated[str, AfterValidator(decode_escapes)]
"""A string in which `\\r`, `\\n`, `\\t`, `\\0`, `\\xHH` and `\\\\` are decoded."""
NonEmptyEscaped = Annotated[str, AfterValidator(decode_escapes), AfterValidator(_non_empty)]


class SerialField(FieldConfig):
    """One value in the instrument's reply: a named group of `parse`, or column `index`."""

    # The YAML key is `type`, as users have always written it; inside, `value_kind`, since in
    # a Modbus field `type` is the register encoding and here there is none, only what the
    # reply's text means.
    value_kind: ValueKind = Field(
        "number",
        alias="type",
        description="what the text means: number (default), bool (1/0, true/false, on/off, "
        "yes/no) or string",
    )
    index: NonNegativeInt | None = Field(
        None,
        description="With `split`: which column of the reply this field is, counted from 0.",
        examples=[2],
    )
    scale: float = Field(
        1.0,
        description="Multiplies the number read: value = number * scale + offset.",
        examples=[100],
    )
    offset: float = Field(
        0.0, description="Added after `scale`: value = number * scale + offset.", examples=[-273.15]
    )
    simulate: Signal | None = Field(
        None,
        description=(
            "What `sensorpoll simulate` answers for this field: a constant `value` or a `waveform`."
        ),
        examples=[{"value": 21.5}],
    )

    @property
    def kind(self) -> ValueKind:
        return self.value_kind

    @model_validator(mode="after")
    def _scale_only_for_numbers(self) -> Self:
        if self.value_kind != "number" and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError(f"scale and offset apply to numbers, not to type {self.value_kind}")
        return self

    @model_validator(mode="after")
    def _simulation_fits_the_type(self) -> Self:
        hint = self.simulate
        if hint is None:
            return self
        if hint.waveform is not None and self.value_kind != "number":
            raise ValueError(
                f"simulate: a waveform needs a number field, not type {self.value_kind}"
            )
        value = hint.value
        kind = "bool" if isinstance(value, bool) else "string" if isinstance(value, str) else None
        if value is not None and (kind or "number") != self.value_kind:
            raise ValueError(f"simulate: value {value!r} does not fit type {self.value_kind}")
        return self


class SerialConfig(DeviceConfig):
    """An ASCII request/response instrument on a serial line (RS-232, RS-485, USB serial)."""

    driver: Literal["serial"] = Field(
        "serial",
        description=(
            "`serial`: an ASCII request/response instrument (SCPI, Lakeshore, "
            "Pfeiffer, RS-485 modules)."
        ),
    )
    port: str = Field(
        min_length=1,
        description=(
            "The serial device; instruments naming the same port share one line and "
            "take turns, one command at a time."
        ),
        examples=["/dev/ttyUSB0"],
    )
    baudrate: PositiveInt = Field(
        9600,
        description="Serial line speed; must agree across a port's instruments.",
        examples=[9600],
    )
    bytesize: Literal[5, 6, 7, 8] = Field(8, description="Data bits: 5, 6, 7 or 8.", examples=[7])
    parity: Literal["N", "E", "O", "M", "S"] = Field(
        "N",
        description="Parity: N (none), E (even), O (odd), M (mark) or S (space).",
        examples=["O"],
    )
    stopbits: StopBits = Field(1, description="Stop bits: 1, 1.5 or 2.", examples=[1])
    command: NonEmptyEscaped = Field(
        description=(
            "The command sent each cycle, as is; `\\r`, `\\n`, `\\t`, `\\0` and `\\xHH` "
            "are decoded in any YAML quoting."
        ),
        examples=["MEAS?\\r\\n"],
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
            "A regular expression that must match the whole reply; its named groups are the fields."
        ),
        examples=["(?P<t1>-?[\\d.]+),(?P<t2>-?[\\d.]+)"],
    )
    split: NonEmptyEscaped | None = Field(
        None,
        description=(
            "Instead of `parse`: split the reply at this text and take each field's `index`."
        ),
        examples=[","],
    )
    fields: tuple[SerialField, ...] = Field(
        min_length=1, description="The values in the instrument's reply."
    )

    @property
    def line_ending(self) -> str:
        """The command's trailing CR/LF: appended to `init` and `*IDN?` when they lack one."""
        return self.command[len(self.command.rstrip("\r\n")) :]

    def with_line_ending(self, text: str) -> str:
        return text if text.endswith(("\r", "\n")) else text + self.line_ending

    def bus(self) -> BusSpec:
        settings = (
            ("baudrate", self.baudrate),
            ("bytesize", self.bytesize),
            ("parity", self.parity),
            ("stopbits", self.stopbits),
        )
        return BusSpec(key=f"serial:{self.port}", protocol=PROTOCOL, settings=settings)

    @model_validator(mode="after")
    def _encodable(self) -> Self:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"encoding: unknown encoding {self.encoding!r}") from None
        texts = {"command": self.command, "terminator": self.terminator, "split": self.split}
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

    @model_validator(mode="after")
    def _fields_match_reply_layout(self) -> Self:
        names = [f.name for f in self.fields]
        indexed = [f.name for f in self.fields if f.index is not None]
        if self.parse is not None and self.split is not None:
            raise ValueError("give either parse (a regex) or split (a separator), not both")
        if self.parse is not None:
            try:
                pattern = re.compile(self.parse)
            except re.error as exc:
                raise ValueError(f"parse: not a valid regular expression: {exc}") from None
            groups = set(pattern.groupindex)
            missing = [n for n in names if n not in groups]
            extra = sorted(groups - set(names))
            if missing:
                raise ValueError(
                    f"parse: no named group for field(s) {', '.join(missing)}; "
                    f"write (?P<{missing[0]}>...) in the regex"
                )
            if extra:
                raise ValueError(
                    f"parse: named group(s) {', '.join(extra)} match no field; "
                    "rename them to a field name or make them unnamed (?:...)"
                )
            if indexed:
                raise ValueError(f"index is only used with split (fields {', '.join(indexed)})")
        elif self.split is not None:
            unindexed = [f.name for f in self.fields if f.index is None]
            if unindexed:
                raise ValueError(f"with split, every field needs index: {', '.join(unindexed)}")
        else:
            if len(self.fields) > 1:
                raise ValueError(
                    "several fields need parse (a regex with one named group per field) or "
                    "split (a separator, with index per field)"
                )
            if indexed:
                raise ValueError(f"index is only used with split (fields {', '.join(indexed)})")
        return self
