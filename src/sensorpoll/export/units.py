"""Prometheus base units: `sensorpoll check` warns, as promtool's lint does, on a field whose
unit is not one (`percent`, `mbar`, `kilowatt_hours`) and says which base unit and scale to use.

Base units are the SI ones Prometheus' naming guide lists (seconds, meters, grams, bytes,
volts, amperes, joules, celsius, ratio) and the coherent SI units derived from them
(pascals, watts, hertz, ohms, ...); anything else is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sensorpoll.config.schema import FieldConfig, Settings
from sensorpoll.drivers.base import ReportWarning


@dataclass(frozen=True)
class BaseUnit:
    """value in `unit` = value in the other unit * factor + offset."""

    unit: str
    factor: float
    offset: float = 0.0


def _all(base: str, factor: float, *names: str) -> dict[str, BaseUnit]:
    return dict.fromkeys(names, BaseUnit(base, factor))


# The spellings seen in lab configs; prefixed SI units are found by `_prefixed` below.
NOT_BASE: dict[str, BaseUnit] = {
    **_all("seconds", 1e-3, "ms", "msec"),
    **_all("seconds", 1e-6, "us", "usec"),
    **_all("seconds", 60.0, "minutes", "min", "mins"),
    **_all("seconds", 3600.0, "hours", "h", "hr", "hrs"),
    **_all("seconds", 86400.0, "days"),
    **_all("seconds", 1.0, "s", "sec", "secs", "second"),
    **_all("ratio", 0.01, "percent", "percentage", "pct", "perc"),
    **_all("ratio", 1e-3, "permille"),
    **_all("ratio", 1e-6, "ppm"),
    **_all("ratio", 1e-9, "ppb"),
    **_all("pascals", 100.0, "mbar", "millibar", "millibars", "hpa"),
    **_all("pascals", 1e5, "bar", "bars"),
    **_all("pascals", 1e3, "kpa"),
    **_all("pascals", 1e6, "mpa"),
    **_all("pascals", 1.0, "pa", "pascal"),
    **_all("pascals", 6894.757293168361, "psi"),
    **_all("pascals", 133.32236842105263, "torr", "mmhg"),
    **_all("pascals", 101325.0, "atm", "atmospheres"),
    **_all("joules", 3.6e6, "kilowatt_hours", "kwh"),
    **_all("joules", 3.6e9, "megawatt_hours", "mwh"),
    **_all("joules", 3600.0, "watt_hours", "wh"),
    **_all("joules", 4.184, "calories", "cal"),
    **_all("joules", 4184.0, "kilocalories", "kcal"),
    **_all("watts", 1e3, "kw"),
    **_all("watts", 1.0, "w", "watt"),
    **_all("volts", 1e-3, "mv"),
    **_all("volts", 1.0, "v", "volt"),
    **_all("amperes", 1e-3, "ma", "milliamps"),
    **_all("amperes", 1.0, "a", "amps", "amp", "ampere"),
    **_all("meters", 1e-3, "mm"),
    **_all("meters", 1e-2, "cm"),
    **_all("meters", 1e-6, "microns"),
    **_all("meters", 0.0254, "inches"),
    **_all("meters", 0.3048, "feet", "ft"),
    **_all("grams", 1e3, "kg"),
    **_all("grams", 1e-3, "mg"),
    **_all("bytes", 0.125, "bits"),
    **_all("hertz", 1.0, "hz"),
    **_all("celsius", 1.0, "degc", "deg_c", "degrees_celsius"),
    **_all("kelvin", 1.0, "kelvins"),
    "fahrenheit": BaseUnit("celsius", 5 / 9, -32 * 5 / 9),
    "degf": BaseUnit("celsius", 5 / 9, -32 * 5 / 9),
}

BASE_UNITS = frozenset(
    {
        *("seconds", "meters", "metres", "grams", "bytes", "volts", "amperes", "joules"),
        *("celsius", "kelvin", "ratio", "pascals", "watts", "hertz", "ohms", "siemens"),
        *("coulombs", "farads", "henries", "teslas", "webers", "newtons", "lux", "lumens"),
        *("candelas", "moles", "radians", "steradians", "becquerels", "grays", "sieverts"),
    }
)

# SI prefixes on a base unit, as one word: millivolts, kilowatts, megabytes.
PREFIXES = {
    "pico": 1e-12,
    "nano": 1e-9,
    "micro": 1e-6,
    "milli": 1e-3,
    "centi": 1e-2,
    "deci": 1e-1,
    "hecto": 1e2,
    "kilo": 1e3,
    "mega": 1e6,
    "giga": 1e9,
    "tera": 1e12,
}
BINARY_PREFIXES = {"kibi": 2.0**10, "mebi": 2.0**20, "gibi": 2.0**30, "tebi": 2.0**40}


def _prefixed(unit: str) -> BaseUnit | None:
    for prefix, factor in (*PREFIXES.items(), *BINARY_PREFIXES.items()):
        rest = unit.removeprefix(prefix)
        if rest != unit and rest in BASE_UNITS:
            if prefix in BINARY_PREFIXES and rest != "bytes":
                return None
            return BaseUnit(rest, factor)
    return None


def base_unit(unit: str) -> BaseUnit | None:
    """The base unit to use instead of `unit`, or None if `unit` is one (or unknown)."""
    lowered = unit.lower()
    if lowered in BASE_UNITS:
        return None if lowered == unit else BaseUnit(lowered, 1.0)
    return NOT_BASE.get(lowered) or _prefixed(lowered)


def _number(value: float) -> str:
    return f"{value:.10g}"


def _advice(field: FieldConfig, base: BaseUnit) -> str:
    if base.factor == 1.0 and base.offset == 0.0:
        return f"unit: {base.unit}"
    model_fields = type(field).model_fields
    if "scale" in model_fields and "offset" in model_fields:
        scale: float = getattr(field, "scale", 1.0)
        offset: float = getattr(field, "offset", 0.0)
        advice = f"unit: {base.unit}, scale: {_number(scale * base.factor)}"
        new_offset = offset * base.factor + base.offset
        return advice + (f", offset: {_number(new_offset)}" if new_offset else "")
    if base.offset:
        sign = "-" if base.offset < 0 else "+"
        return (
            f"unit: {base.unit} and values x {_number(base.factor)} "
            f"{sign} {_number(abs(base.offset))}"
        )
    return f"unit: {base.unit} and values x {_number(base.factor)}"


def unit_warnings(settings: Settings) -> Iterator[ReportWarning]:
    """One warning per field whose unit is not a Prometheus base unit."""
    for i, device in enumerate(settings.devices):
        for j, field in enumerate(device.fields):
            if field.unit is None or (base := base_unit(field.unit)) is None:
                continue
            rename = (
                f"; the field's name ends in {field.unit} too"
                if field.name.endswith(f"_{field.unit}")
                else ""
            )
            yield ReportWarning(
                f"devices[{i}].fields[{j}].unit ({device.name}.{field.name}): "
                f'use base unit "{base.unit}" instead of "{field.unit}": '
                f"{_advice(field, base)}{rename}"
            )
