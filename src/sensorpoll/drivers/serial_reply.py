"""An instrument's reply line <-> field values, by `parse` regex, `split` columns or whole reply.

Pure functions of text. `ReplyParser` reads the driver's decoded replies (a reply that cannot
be understood is a `ParseError` carrying the truncated reply, never a guessed value);
`ReplyBuilder`, its inverse, prints replies the same config accepts, for the simulator.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sensorpoll.drivers.base import Value
from sensorpoll.drivers.errors import ParseError
from sensorpoll.drivers.serial_config import SerialConfig, SerialField

_sre: Any = importlib.import_module("re._parser")  # the regex parse tree; no typing stubs

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


class SimulationError(ValueError):
    """A config the simulator cannot serve (e.g. no reply can match its `parse`)."""


def _format_candidates(field: SerialField, value: Value) -> list[str]:
    """Ways to print a value on the wire, most natural first; the first one `parse` accepts
    wins."""
    if isinstance(value, bool):
        return ["1" if value else "0", "true" if value else "false", "ON" if value else "OFF"]
    if isinstance(value, str):
        return [value]
    raw = (value - field.offset) / field.scale
    compact = f"{raw:.6f}".rstrip("0").rstrip(".")
    return [compact, str(round(raw)), f"{raw:.1f}", f"{raw:.2f}", f"{raw:.3f}", f"{raw:.6e}"]


def _in_set(items: Iterable[tuple[Any, Any]], char: str) -> bool:
    code = ord(char)
    for op, arg in items:
        name = str(op)
        if name == "LITERAL" and arg == code:
            return True
        if name == "RANGE" and arg[0] <= code <= arg[1]:
            return True
        if name == "CATEGORY" and re.fullmatch(_CATEGORIES.get(str(arg), "(?!)"), char):
            return True
    return False


_CATEGORIES = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_NOT_DIGIT": r"\D",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S",
    "CATEGORY_WORD": r"\w",
    "CATEGORY_NOT_WORD": r"\W",
}
_FILLERS = "0a x.,;:-_+=/A"  # characters tried for a character class, in order


def _render(tokens: Any, groups: Mapping[int, str], done: dict[int, str]) -> str:
    """The shortest text the parsed regex `tokens` matches, with named groups replaced."""
    out: list[str] = []
    for op, arg in tokens:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name in ("NOT_LITERAL", "ANY"):
            out.append(next(c for c in _FILLERS if name == "ANY" or ord(c) != arg))
        elif name == "IN":
            items = list(arg)
            negate = bool(items) and str(items[0][0]) == "NEGATE"
            members = items[1:] if negate else items
            out.append(next((c for c in _FILLERS if _in_set(members, c) != negate), "?"))
        elif name == "BRANCH":
            out.append(_render(arg[1][0], groups, done))
        elif name == "SUBPATTERN":
            group, body = arg[0], arg[-1]
            text = groups[group] if group in groups else _render(body, groups, done)
            if group is not None:
                done[group] = text
            out.append(text)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, body = arg
            out.append(_render(body, groups, done) * low)
        elif name == "GROUPREF":
            out.append(done.get(arg, ""))
        elif name == "ATOMIC_GROUP":
            out.append(_render(arg, groups, done))
        # AT (anchors), ASSERT, ASSERT_NOT, GROUPREF_EXISTS...: nothing to print
    return "".join(out)


class ReplyBuilder:
    """Builds a reply line the device's own `parse` / `split` accepts, for given values."""

    def __init__(self, config: SerialConfig) -> None:
        self.config = config
        self._fields = {f.name: f for f in config.fields}
        if config.parse is not None:
            self._pattern: re.Pattern[str] | None = re.compile(config.parse)
            self._tree = _sre.parse(config.parse)
        else:
            self._pattern = None

    def reply(self, values: Mapping[str, Value]) -> str:
        body = self._body(values)
        return body + self.config.terminator

    def _body(self, values: Mapping[str, Value]) -> str:
        config = self.config
        texts = {n: _format_candidates(f, values[n]) for n, f in self._fields.items()}
        if config.split is not None:
            width = max(f.index or 0 for f in config.fields) + 1
            columns = ["0"] * width
            for name, field in self._fields.items():
                columns[field.index or 0] = texts[name][0]
            return config.split.join(columns)
        if self._pattern is None:
            return next(iter(texts.values()))[0]
        return self._regex_body(self._pattern, texts)

    def _regex_body(self, pattern: re.Pattern[str], texts: Mapping[str, list[str]]) -> str:
        index = pattern.groupindex
        chosen = {name: options[0] for name, options in texts.items()}
        for name, options in texts.items():  # per field, the first printing that matches
            for option in options:
                chosen[name] = option
                match = pattern.fullmatch(self._fill(index, chosen))
                if match is not None and match.group(name) == option:
                    break
            else:
                raise SimulationError(
                    f"device {self.config.name}: cannot print {texts[name][0]!r} for field "
                    f"{name} so that parse {pattern.pattern!r} matches; give the field a "
                    "simulate value that fits the regex"
                )
        return self._fill(index, chosen)

    def _fill(self, index: Mapping[str, int], chosen: Mapping[str, str]) -> str:
        groups = {index[name]: text for name, text in chosen.items()}
        return _render(self._tree, groups, {})
