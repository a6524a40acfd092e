"""Units as people write them, from the metric unit names a config uses: `celsius` -> `°C`,
`kilowatt_hours` -> `kWh`, `liters_per_minute` -> `L/min`. For the status page."""

from __future__ import annotations

import functools

_SYMBOLS = {
    "celsius": "°C",
    "degree_celsius": "°C",
    "fahrenheit": "°F",
    "degree_fahrenheit": "°F",
    "kelvin": "K",
    "pascal": "Pa",
    "bar": "bar",
    "mbar": "mbar",
    "hpa": "hPa",
    "psi": "psi",
    "torr": "Torr",
    "atmosphere": "atm",
    "volt": "V",
    "ampere": "A",
    "amp": "A",
    "watt": "W",
    "watt_hour": "Wh",
    "kwh": "kWh",
    "volt_ampere": "VA",
    "volt_ampere_reactive": "var",
    "var": "var",
    "joule": "J",
    "ohm": "Ω",
    "siemens": "S",
    "farad": "F",
    "henry": "H",
    "coulomb": "C",
    "tesla": "T",
    "gauss": "G",
    "hertz": "Hz",
    "newton": "N",
    "second": "s",
    "minute": "min",
    "hour": "h",
    "day": "d",
    "meter": "m",
    "metre": "m",
    "square_meter": "m²",
    "cubic_meter": "m³",
    "liter": "L",
    "litre": "L",
    "gram": "g",
    "byte": "B",
    "bit": "bit",
    "mole": "mol",
    "candela": "cd",
    "lux": "lx",
    "radian": "rad",
    "degree": "°",
    "percent": "%",
    "ppm": "ppm",
    "ppb": "ppb",
    "rpm": "rpm",
    "decibel": "dB",
    "db": "dB",
    "dbm": "dBm",
    "ratio": "",  # a plain number: no unit shown
}
_PREFIXES = {
    "pico": "p",
    "nano": "n",
    "micro": "µ",
    "milli": "m",
    "centi": "c",
    "deci": "d",
    "hecto": "h",
    "kilo": "k",
    "mega": "M",
    "giga": "G",
}


def _symbol(name: str) -> str | None:
    for candidate in (name, name.removesuffix("s"), name.removesuffix("es")):
        symbol = _SYMBOLS.get(candidate)
        if symbol is not None:
            return symbol
    for prefix, short in _PREFIXES.items():
        rest = name.removeprefix(prefix)
        if rest != name and (symbol := _symbol(rest)):
            return short + symbol
    return None


@functools.cache
def display_unit(unit: str) -> str:
    """The unit's symbol; a name it does not know is shown as written, `_` as spaces."""
    parts = [_symbol(part) for part in unit.lower().split("_per_")]
    if any(part is None for part in parts):
        return unit.replace("_", " ")
    return "/".join(part for part in parts if part is not None)
