"""What a field's decoded register number becomes: its bits cut out, the device's "no value"
sentinels and NaN dropped, a scale factor register, scale and offset applied, `valid` kept.

Pure; the driver compiles one rule per field that needs more than the codec's scale/offset.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from sensorpoll.drivers.base import Value
from sensorpoll.drivers.modbus.codec import Decoded
from sensorpoll.drivers.modbus.config import ModbusField

ValueRule = Callable[[Decoded, int | None], Value | None]
"""(the field's raw number, its scale factor exponent or None) -> its value, None if invalid."""

SF_NOT_IMPLEMENTED = -32768  # SunSpec: the scale factor register is not implemented
SF_RANGE = range(-10, 11)  # SunSpec's valid exponents

_WIDTH = {"int16": 16, "uint16": 16, "int32": 32, "uint32": 32, "int64": 64, "uint64": 64}
_FLOAT_IMAGE = {"float32": (">f", ">I"), "float64": (">d", ">Q")}


def needs_rule(field: ModbusField) -> bool:
    """Whether `field` needs a rule: the codec alone decodes the rest (a float field without
    one only needs `finite`)."""
    return bool(
        field.bit is not None
        or field.bits is not None
        or field.invalid
        or field.valid is not None
        or field.scale_factor is not None
    )


def is_float(field: ModbusField) -> bool:
    return field.data_type in _FLOAT_IMAGE


def drop_non_finite(values: dict[str, Value | None], names: tuple[str, ...]) -> None:
    """NaN and infinities from float registers are no value."""
    for name in names:
        value = values[name]
        if value - value != 0:  # type: ignore[operator]  # NaN and +-inf only: floats
            values[name] = None


def raw_type(field: ModbusField) -> str:
    """What the codec decodes for a field with a rule: a bit field's whole register."""
    return "uint16" if field.bit is not None else field.data_type


def _sentinels(field: ModbusField) -> frozenset[int | float]:
    """The `invalid` values as the raw number compares: a signed field's 0x8000 is -32768."""
    width = _WIDTH.get(field.data_type)
    values: set[int | float] = set()
    for raw in field.invalid:
        values.add(raw)
        if width is not None and float(raw).is_integer():
            whole = int(raw)
            if field.data_type.startswith("int") and whole >= 2 ** (width - 1):
                values.add(whole - 2**width)
            elif not field.data_type.startswith("int") and whole < 0:
                values.add(whole + 2**width)
    return frozenset(values)


def _pattern_in(
    number: float, to_pattern: Callable[[float], int] | None, sentinels: frozenset[int | float]
) -> bool:
    return to_pattern is not None and math.isfinite(number) and to_pattern(number) in sentinels


def compile_rule(field: ModbusField) -> ValueRule:
    bit, bits = field.bit, field.bits
    if bit is not None:
        return lambda raw, _: bool((int(raw) >> bit) & 1)
    shift, mask = (bits[0], (1 << bits[1]) - 1) if bits is not None else (0, 0)
    sentinels = _sentinels(field)
    image = _FLOAT_IMAGE.get(field.data_type)
    to_pattern: Callable[[float], int] | None = None
    if image is not None and sentinels:  # a float's invalid may be its register pattern
        pack, unpack = struct.Struct(image[0]).pack, struct.Struct(image[1]).unpack

        def to_pattern(value: float) -> int:
            return int(unpack(pack(value))[0])

    is_float = image is not None
    scale, offset = field.scale, field.offset
    plain = scale == 1.0 and offset == 0.0
    low = field.valid.min if field.valid is not None else None
    high = field.valid.max if field.valid is not None else None

    def rule(raw: Decoded, exponent: int | None) -> Value | None:
        number: int | float = raw  # type: ignore[assignment]  # numbers only: see config
        if bits is not None:
            number = (int(number) >> shift) & mask
        if sentinels and (number in sentinels or _pattern_in(number, to_pattern, sentinels)):
            return None
        if is_float and not math.isfinite(number):
            return None
        if exponent is not None:
            if exponent == SF_NOT_IMPLEMENTED or exponent not in SF_RANGE:
                return None
            # dividing by 10^n, not multiplying by 10^-n: 1234 x 10^-1 is then exactly 123.4
            number = number * 10**exponent if exponent >= 0 else number / 10**-exponent
        if not plain:
            number = number * scale + offset
        if (low is not None and number < low) or (high is not None and number > high):
            return None
        return number

    return rule
