"""The Prometheus text format's small print: label-value escaping, numbers, HELP text.

Shared by the text (0.0.4) and OpenMetrics (1.0.0) renderers; both parse these the same way.
"""

from __future__ import annotations

import math

import orjson

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

_SPECIAL = {math.inf: "+Inf", -math.inf: "-Inf"}


def escape_label_value(value: str) -> str:
    """Backslash, double quote and newline are the only characters either format escapes."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def escape_help(text: str) -> str:
    # OpenMetrics also escapes '"' in HELP, the text format does not: keep quotes out instead
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', "'")


def format_sample_value(value: float | int | bool | str) -> str:
    """A sample value as both formats parse it: Python's shortest repr, `+Inf`, `-Inf`, `NaN`.

    repr gives the shortest text that round-trips to the same float64, as Go's ParseFloat reads
    it (`1e-05`, `1.5e+20`); bool is an int, so it is handled before int.
    """
    kind = value.__class__
    if kind is float:
        if value != value:  # NaN is the one float not equal to itself
            return "NaN"
        special = _SPECIAL.get(float(value))
        return special if special is not None else repr(value)
    if kind is bool:
        return "1" if value else "0"
    if kind is int:
        return str(value)
    try:  # a driver's int or float subclass; text in a number field is a driver bug: NaN
        return format_sample_value(float(value))
    except ValueError:
        return "NaN"


def labels_text(labels: dict[str, str]) -> str:
    """`name="value",...` in the order given, values escaped (no braces)."""
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels.items())


def format_sample_values(values: list[float | int | bool | str | None]) -> list[bytes]:
    """`format_sample_value` of every value at once, as bytes; None (no value) gives b"null".

    Exact shortest floats are the cost of rendering (Python's repr takes ~1 us each); orjson's
    Ryu does a whole batch in one C call and round-trips exactly like repr. What orjson writes
    differently (`null` for NaN and infinities, `true`/`false`) is found by searching the
    output, so the cost stays in C however long the batch, and only those few are redone.
    """
    if not values:
        return []
    try:
        blob = orjson.dumps(values)
    except (orjson.JSONEncodeError, TypeError):  # e.g. an int beyond 64 bits
        return [_format_or_null(v) for v in values]
    if b'"' in blob:  # a string in a number field: its text could hold commas
        return [_format_or_null(v) for v in values]
    parts = blob[1:-1].split(b",")
    # Searching for the few odd tokens instead of testing every part: 10,000 values in ~0.6 ms
    # instead of ~4 ms, which keeps bench/scrape.py's render (budget 10 ms) at ~4 ms, not ~12.
    odd = sorted(_find_all(blob, b"n") + _find_all(blob, b"t") + _find_all(blob, b"f"))
    index, counted_to = 0, 0
    for position in odd:  # each one's index is the number of commas before it
        index += blob.count(b",", counted_to, position)
        counted_to = position
        parts[index] = _format_or_null(values[index])
    return parts


def _find_all(blob: bytes, first: bytes) -> list[int]:
    # null, true and false are the only tokens starting with n, t or f; numbers have none
    found = []
    position = blob.find(first)
    while position != -1:
        found.append(position)
        position = blob.find(first, position + 4)
    return found


def _format_or_null(value: float | int | bool | str | None) -> bytes:
    return b"null" if value is None else format_sample_value(value).encode()
