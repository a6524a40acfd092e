"""One query of an ASCII instrument: what it sends, its handshake, and how its reply reads.

A `SerialConfig` has one or more (`queries:`, or the `command` shorthand); its fields are
those of its queries. Validated with the device (stage 1); run by the driver, in order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Self

from pydantic import Field, NonNegativeInt, model_validator

from sensorpoll.config.schema import FieldConfig, Model, ValueKind
from sensorpoll.drivers.serial.text import NonEmptyEscaped
from sensorpoll.drivers.signal import Signal


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


def check_reply_layout(parse: str | None, split: str | None, fields: Sequence[SerialField]) -> None:
    """ValueError unless the fields match the reply's layout: a named group of `parse` each,
    a column `index` each with `split`, or one field that is the whole reply."""
    names = [f.name for f in fields]
    indexed = [f.name for f in fields if f.index is not None]
    if parse is not None and split is not None:
        raise ValueError("give either parse (a regex) or split (a separator), not both")
    if parse is not None:
        try:
            pattern = re.compile(parse)
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
    elif split is not None:
        unindexed = [f.name for f in fields if f.index is None]
        if unindexed:
            raise ValueError(f"with split, every field needs index: {', '.join(unindexed)}")
    else:
        if len(fields) > 1:
            raise ValueError(
                "several fields need parse (a regex with one named group per field) or "
                "split (a separator, with index per field)"
            )
        if indexed:
            raise ValueError(f"index is only used with split (fields {', '.join(indexed)})")


class Query(Model):
    """One command and its reply; with `expect`/`then`, a handshake before the reply."""

    command: NonEmptyEscaped = Field(
        description='sent as is, e.g. "KRDG? A\\r\\n" (escapes decoded in any quoting)'
    )
    expect: NonEmptyEscaped | None = Field(
        None,
        description='what the instrument answers first, e.g. an ACK "\\x06\\r\\n"; anything '
        "else (a NAK) is a parse error naming what arrived",
    )
    then: NonEmptyEscaped | None = Field(
        None,
        description='sent once `expect` has arrived, e.g. ENQ "\\x05"; the reply follows it',
    )
    parse: str | None = Field(
        None,
        description="regex matched against the whole reply; its named groups are the fields",
    )
    split: NonEmptyEscaped | None = Field(
        None, description="or: split the reply at this text, `index` per field"
    )
    fields: tuple[SerialField, ...] = Field(
        min_length=1, description="the values in this query's reply"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.then is not None and self.expect is None:
            raise ValueError("then needs expect: what the instrument answers before it is sent")
        check_reply_layout(self.parse, self.split, self.fields)
        return self

    def texts(self) -> dict[str, str]:
        """Everything this query sends or expects, by key, for the encoding check."""
        texts = {"command": self.command, "expect": self.expect, "then": self.then}
        texts["split"] = self.split
        return {key: text for key, text in texts.items() if text is not None}
