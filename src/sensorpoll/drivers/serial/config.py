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
    index: NonNegativeInt | None = None  # with `split`: which column, counted from 0
    scale: float = 1.0  # value = number * scale + offset
    offset: float = 0.0
    simulate: Signal | None = None

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

    driver: Literal["serial"] = "serial"
    port: str = Field(min_length=1)  # devices naming the same port share one line and queue
    baudrate: PositiveInt = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: StopBits = 1
    command: NonEmptyEscaped  # sent as is, e.g. "MEAS?\r\n" or "#01\r" on RS-485
    terminator: NonEmptyEscaped = "\n"  # ends a reply; whitespace around a reply is stripped
    encoding: str = "ascii"
    echo: bool = False  # the instrument echoes the command before its reply: skip the echo
    init: tuple[NonEmptyEscaped, ...] = ()  # sent once after each (re)open, e.g. "*RST"
    init_delay: Duration = 0.1  # pause after each init command; its answers are discarded
    identify: bool = False  # send "*IDN?" once after each (re)open and log the answer
    # After a timed-out read, the next command on the port waits this long at most for the
    # late answer (and drops it), so it is never taken for the next command's reply.
    late_reply_wait: Duration = 0.5
    parse: str | None = None  # regex; its named groups are the fields; must match the whole reply
    split: NonEmptyEscaped | None = None  # or: split the reply at this text, `index` per field
    fields: tuple[SerialField, ...] = Field(min_length=1)

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
