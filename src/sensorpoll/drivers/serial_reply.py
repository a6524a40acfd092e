"""An instrument's reply line -> field values, by `parse` regex, `split` columns or whole reply.

Pure functions of text: the `serial` driver feeds it decoded replies; a reply that cannot be
understood is a `ParseError` carrying the (truncated) reply, never a guessed value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from sensorpoll.drivers.base import Value
from sensorpoll.drivers.errors import ParseError
from sensorpoll.drivers.serial_config import SerialConfig, SerialField

SHOWN_REPLY_CHARS = 60  # how much of a bad reply the log shows

# A decimal number as instruments print it; no "nan", "inf" or "1_000" (float() takes those).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}


def shown(reply: str) -> str:
    """The reply as the log shows it: repr, truncated."""
    if len(reply) > SHOWN_REPLY_CHARS:
        return repr(reply[:SHOWN_REPLY_CHARS]) + f"... ({len(reply)} chars)"
    return repr(reply)


def _converter(field: SerialField) -> Callable[[str], Value]:
    if field.type == "string":
        return lambda text: text
    if field.type == "bool":

        def to_bool(text: str) -> Value:
            word = text.lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
            raise ValueError(f"{shown(text)} is not a boolean (1/0, true/false, on/off, yes/no)")

        return to_bool
    scale, offset = field.scale, field.offset
    exact = scale == 1.0 and offset == 0.0

    def to_number(text: str) -> Value:
        if exact and _INTEGER.fullmatch(text):
            return int(text)
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"{shown(text)} is not a number")
        value = float(text) * scale + offset
        if not math.isfinite(value):
            raise ValueError(f"{shown(text)} is out of range")
        return value

    return to_number


class ReplyParser:
    """Turns one reply of a device into its field values."""

    def __init__(self, config: SerialConfig) -> None:
        self._pattern = re.compile(config.parse) if config.parse is not None else None
        self._split = config.split
        self._fields = [(f.name, f.index, _converter(f)) for f in config.fields]

    def parse(self, reply: str) -> dict[str, Value]:
        """Values by field name; `ParseError` if the reply does not fit."""
        text = reply.strip()
        raw = self._raw_values(text, reply)
        values: dict[str, Value] = {}
        for name, _, convert in self._fields:
            try:
                values[name] = convert(raw[name])
            except ValueError as exc:
                detail = str(exc) if raw[name] == reply.strip() else f"{exc}; reply {shown(reply)}"
                raise ParseError(f"field {name}: {detail}") from None
        return values

    def _raw_values(self, text: str, reply: str) -> dict[str, str]:
        if self._pattern is not None:
            match = self._pattern.fullmatch(text)
            if match is None:
                raise ParseError(
                    f"reply {shown(reply)} does not match parse {self._pattern.pattern!r}"
                )
            groups = match.groupdict()
            missing = [name for name, _, _ in self._fields if groups.get(name) is None]
            if missing:
                raise ParseError(f"reply {shown(reply)} has no {', '.join(missing)}")
            return {name: (groups[name] or "").strip() for name, _, _ in self._fields}
        if self._split is not None:
            columns = text.split(self._split)
            raw: dict[str, str] = {}
            for name, index, _ in self._fields:
                if index is None or index >= len(columns):
                    raise ParseError(
                        f"reply {shown(reply)} has {len(columns)} columns, field {name} "
                        f"wants column {index}"
                    )
                raw[name] = columns[index].strip()
            return raw
        if not text:
            raise ParseError(f"empty reply {shown(reply)}")
        return {self._fields[0][0]: text}
