"""Scalar types of the config file: durations, names, label sets.

Shared by the top-level schema and every driver's own config model.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

_NOT_A_DURATION = "a duration must be a number of seconds or a string like '250ms'"
MAX_DURATION = 7 * 86400.0  # no pause, timeout or period in a lab poller is longer than a week
MIN_INTERVAL = 0.01  # 100 cycles a second: faster burns a core on scheduling alone
MAX_INTERVAL = 86400.0  # a cycle a day; longer would leave /healthz saying ok for days

_DURATION = re.compile(r"^\s*(-?(?:\d+(?:\.\d*)?|\.\d+))\s*(ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or a string such as `250ms`, `1s`, `2m`, `1h`."""
    if isinstance(value, bool):  # bool is an int subclass; `timeout: true` is a mistake
        raise PydanticCustomError("duration_type", _NOT_A_DURATION)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            try:
                seconds = float(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a duration: use a number of seconds or a number "
                    "with a unit ms, s, m or h, e.g. '250ms'"
                ) from None
        else:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:  # a "_type" error: in a union (latency: 20ms | {min, max}) the other branch speaks
        raise PydanticCustomError("duration_type", _NOT_A_DURATION)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError("a duration must be finite")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"{seconds:g}s is longer than a week, the most a duration may be")
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be greater than zero")
    return seconds


def _interval(seconds: float) -> float:
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise ValueError(
            f"{seconds:g}s is outside {MIN_INTERVAL * 1000:g}ms .. {MAX_INTERVAL / 3600:g}h, "
            "the cycle periods sensorpoll runs"
        )
    return seconds


_DURATION_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*(ms|s|m|h)\s*$"},
        ],
        "description": "seconds, or a number with a unit: 250ms, 1s, 2m, 1h",
    }
)

Duration = Annotated[float, BeforeValidator(parse_duration), _DURATION_SCHEMA]
"""A duration in seconds, zero allowed."""
PositiveDuration = Annotated[
    float, BeforeValidator(parse_duration), AfterValidator(_positive), _DURATION_SCHEMA
]
Interval = Annotated[
    float, BeforeValidator(parse_duration), AfterValidator(_interval), _DURATION_SCHEMA
]
"""A cycle period: between MIN_INTERVAL and MAX_INTERVAL."""

_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DEVICE_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]*$")
_UNIT = re.compile(r"^[a-zA-Z0-9_]+$")


def _check(pattern: re.Pattern[str], what: str) -> Any:
    def validate(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not a valid {what} (allowed: {pattern.pattern})")
        return value

    return AfterValidator(validate)


def _label_name(value: str) -> str:
    if not _METRIC_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid label name (allowed: [a-zA-Z_][a-zA-Z0-9_]*)")
    if value.startswith("__"):
        raise ValueError(f"label name {value!r} is reserved: names starting with '__' are")
    if value == "device":
        raise ValueError("label name 'device' is reserved: sensorpoll sets it to the device name")
    return value


MetricName = Annotated[str, _check(_METRIC_NAME, "metric name")]
DeviceName = Annotated[str, _check(_DEVICE_NAME, "device name")]
Unit = Annotated[str, _check(_UNIT, "unit")]
LabelName = Annotated[str, AfterValidator(_label_name)]
Labels = dict[LabelName, str]


def format_duration(seconds: float) -> str:
    """A duration as a user writes one: 250ms, 10s, 5m, 1h (seconds when nothing is whole)."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001)):
        count = seconds / size
        if count >= 1 and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return f"{seconds:g}s"
