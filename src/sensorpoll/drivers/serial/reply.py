"""An instrument's reply line <-> field values, by `parse` regex, `split` columns or whole reply.

Pure functions of text. `ReplyParser` reads the driver's decoded replies (a reply that cannot
be understood is a `ParseError` carrying the truncated reply, never a guessed value);
`ReplyBuilder`, its inverse, prints replies the same config accepts, for the simulator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from sensorpoll.drivers.base import Value
from sensorpoll.drivers.errors import ParseError
from sensorpoll.drivers.serial.config import Query, SerialConfig, SerialField
from sensorpoll.drivers.serial.pattern import PatternError, Template

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


def shown_bytes(data: bytes) -> str:
    """Received bytes as the log shows them: undecodable ones escaped, truncated."""
    return shown(data.decode("ascii", errors="backslashreplace"))


def _converter(field: SerialField) -> Callable[[str], Value]:
    if field.value_kind == "string":
        return lambda text: text
    if field.value_kind == "bool":

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
    """Turns one reply to a query into its field values."""

    def __init__(self, query: Query) -> None:
        self._pattern = re.compile(query.parse) if query.parse is not None else None
        self._split = query.split
        self._fields = [(f.name, f.index, _converter(f)) for f in query.fields]

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


class SimulationError(ValueError):
    """A config the simulator cannot serve (e.g. no reply can match its `parse`)."""


def _format_candidates(field: SerialField, value: Value) -> list[str]:
    """Ways to print a value on the wire, most natural first; the first one `parse` accepts
    wins. Very small and very large numbers come in scientific notation first, as
    instruments print them (3.2E-07), so they survive the round trip."""
    if isinstance(value, bool):
        return ["1" if value else "0", "true" if value else "false", "ON" if value else "OFF"]
    if isinstance(value, str):
        return [value]
    raw = (value - field.offset) / field.scale
    compact = f"{raw:.6f}".rstrip("0").rstrip(".")
    scientific = _scientific(raw)
    fixed = [compact, str(round(raw)), f"{raw:.1f}", f"{raw:.2f}", f"{raw:.3f}"]
    if raw != 0 and not 1e-3 <= abs(raw) < 1e7:
        return [scientific, f"{raw:.6E}", f"{raw:.15f}".rstrip("0"), *fixed]
    return [*fixed, scientific, f"{raw:.6E}"]


def _scientific(number: float) -> str:
    """The shortest scientific notation that reads back as exactly `number` (3.2E-07)."""
    for digits in range(17):
        text = f"{number:.{digits}E}"
        if float(text) == number:
            return text
    return f"{number:.16E}"


class ReplyBuilder:
    """Builds a reply line a query's own `parse` / `split` accepts, for given values."""

    def __init__(self, config: SerialConfig, query: Query) -> None:
        self.config = config
        self.query = query
        self._fields = {f.name: f for f in query.fields}
        self._pattern: re.Pattern[str] | None = None
        if query.parse is not None:
            self._pattern = re.compile(query.parse)
            try:
                self._template = Template(query.parse)
            except PatternError as exc:
                raise SimulationError(
                    f"device {config.name}: cannot build replies for parse "
                    f"{query.parse!r}: {exc} is not supported by the simulator"
                ) from None

    def reply(self, values: Mapping[str, Value]) -> str:
        """The reply line, terminator included, for the query's fields' `values`."""
        body = self._body(values)
        return body + self.config.terminator

    def _body(self, values: Mapping[str, Value]) -> str:
        query = self.query
        texts = {n: _format_candidates(f, values[n]) for n, f in self._fields.items()}
        if query.split is not None:
            width = max(f.index or 0 for f in query.fields) + 1
            columns = ["0"] * width
            for name, field in self._fields.items():
                columns[field.index or 0] = texts[name][0]
            return query.split.join(columns)
        if self._pattern is None:
            return next(iter(texts.values()))[0]
        return self._regex_body(self._pattern, texts)

    def _regex_body(self, pattern: re.Pattern[str], texts: Mapping[str, list[str]]) -> str:
        chosen = {name: options[0] for name, options in texts.items()}
        for name, options in texts.items():  # per field, the first printing that matches
            for option in options:
                chosen[name] = option
                match = pattern.fullmatch(self._fill(chosen))
                if match is not None and match.group(name) == option:
                    break
            else:
                raise SimulationError(
                    f"device {self.config.name}: cannot print {texts[name][0]!r} for field "
                    f"{name} so that parse {pattern.pattern!r} matches; give the field a "
                    "simulate value that fits the regex"
                )
        return self._fill(chosen)

    def _fill(self, chosen: Mapping[str, str]) -> str:
        return self._template.render(chosen)
