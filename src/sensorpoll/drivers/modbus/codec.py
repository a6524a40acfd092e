"""Register images <-> values: every data type, byte order, scale/offset and string rule.

Pure functions used by the driver (decode), the simulator and probe (encode, decode all).
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

from sensorpoll.drivers.modbus.float32 import shortest_float32

DataType = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "bool", "string"
]
ByteOrder = Literal["ABCD", "DCBA", "BADC", "CDAB", "ABCDEFGH", "HGFEDCBA", "BADCFEHG", "GHEFCDAB"]
DATA_TYPES: tuple[DataType, ...] = get_args(DataType)
BYTE_ORDERS: tuple[ByteOrder, ...] = get_args(ByteOrder)
CANONICAL_ORDERS: tuple[ByteOrder, ...] = ("ABCD", "DCBA", "BADC", "CDAB")
NUMERIC_TYPES: tuple[DataType, ...] = DATA_TYPES[:8]

_64BIT_NAMES: dict[str, ByteOrder] = {
    "ABCDEFGH": "ABCD",
    "HGFEDCBA": "DCBA",
    "BADCFEHG": "BADC",
    "GHEFCDAB": "CDAB",
}
# struct format of the big-endian (ABCD) byte image of each numeric type
_FORMATS: dict[str, str] = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
    "float64": ">d",
}

Decoded = int | float | bool | str


def canonical_byte_order(order: ByteOrder) -> ByteOrder:
    """ABCDEFGH-style 64-bit names are the same four patterns: map them to the 4-letter ones."""
    return _64BIT_NAMES.get(order, order)


def register_count(data_type: DataType, count: int = 1) -> int:
    """Registers a value occupies; `count` is the string length in registers."""
    if data_type == "string":
        return count
    if data_type == "bool":
        return 1
    return struct.calcsize(_FORMATS[data_type]) // 2


def _wire_bytes(registers: list[int]) -> bytes:
    return b"".join(r.to_bytes(2, "big") for r in registers)


def _reorder(data: bytes, order: ByteOrder) -> bytes:
    """Wire bytes -> big-endian bytes (and back: every pattern is its own inverse).

    ABCD: as sent. DCBA: every byte reversed. BADC: the two bytes of each register swapped.
    CDAB: the registers in reverse order, bytes within each kept.
    """
    order = canonical_byte_order(order)
    if order == "ABCD":
        return data
    if order == "DCBA":
        return data[::-1]
    if order == "BADC":
        return b"".join(data[i + 1 : i + 2] + data[i : i + 1] for i in range(0, len(data), 2))
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    return b"".join(reversed(words))


def decode_raw(registers: list[int], data_type: DataType, order: ByteOrder = "ABCD") -> Decoded:
    """The value in `registers` (exactly the field's registers), before scale and offset.

    bool: nonzero register. string: bytes high-first per register (BADC/DCBA: low-first),
    cut at the first NUL, trailing spaces stripped; undecodable bytes become U+FFFD.
    """
    if data_type == "bool":
        return any(registers)
    data = _wire_bytes(registers)
    if data_type == "string":
        if canonical_byte_order(order) in ("BADC", "DCBA"):
            data = _reorder(data, "BADC")
        text = data.split(b"\0", 1)[0].decode("utf-8", errors="replace")
        return text.rstrip(" ")
    value: int | float = struct.unpack(_FORMATS[data_type], _reorder(data, order))[0]
    return shortest_float32(value) if data_type == "float32" else value


def scaled(value: int | float, scale: float, offset: float) -> int | float:
    """value * scale + offset; an integer stays an integer when neither changes it."""
    if scale == 1.0 and offset == 0.0:
        return value
    return value * scale + offset


def decode(
    registers: list[int],
    data_type: DataType,
    order: ByteOrder = "ABCD",
    scale: float = 1.0,
    offset: float = 0.0,
) -> Decoded:
    raw = decode_raw(registers, data_type, order)
    if isinstance(raw, bool | str):
        return raw
    return scaled(raw, scale, offset)


def _swap(register: int) -> int:
    return ((register & 0xFF) << 8) | (register >> 8)


def compile_decoder(
    data_type: DataType,
    order: ByteOrder = "ABCD",
    scale: float = 1.0,
    offset: float = 0.0,
    count: int = 1,
) -> Callable[[Sequence[int]], Decoded]:
    """`decode` for one field, with the work that does not depend on the registers done once:
    the driver calls the result every cycle. Same results as `decode` (tested against it)."""
    if data_type in ("bool", "string"):
        return lambda registers: decode_raw(list(registers), data_type, order)
    order = canonical_byte_order(order)
    reverse = order in ("CDAB", "DCBA")
    swap = order in ("BADC", "DCBA")
    if data_type == "uint16" and not swap and scale == 1.0 and offset == 0.0:
        return operator.itemgetter(0)  # the most common field: the register itself
    value_struct = struct.Struct(_FORMATS[data_type])
    size = value_struct.size // 2
    words = struct.Struct(f">{size}H")
    unpack, pack = value_struct.unpack, words.pack
    float32 = data_type == "float32"

    def raw(registers: Sequence[int]) -> int | float:
        regs = registers[::-1] if reverse else registers
        if swap:
            regs = [_swap(r) for r in regs]
        value: int | float = unpack(pack(*regs))[0]
        return shortest_float32(value) if float32 else value

    if scale == 1.0 and offset == 0.0:
        return raw
    return lambda registers: raw(registers) * scale + offset


BlockField = tuple[str, int, DataType, ByteOrder, float, float]  # name, first index, ...


def compile_block_decoder(
    fields: Sequence[BlockField], registers: int
) -> Callable[[Sequence[int], dict[str, Decoded]], None] | None:
    """For a block of `registers` registers: a function that decodes every field of `fields`
    (name, first index in the block, type, order, scale, offset) into a dict, in that order.
    Same results as `compile_decoder` per field; None unless every field is numeric.

    The block is packed to bytes once (big-endian words, and little-endian ones if a field
    needs them) and each field is one C unpack_from: every byte order is one of the two
    images read big- or little-endian, so no per-field slicing or repacking."""
    if not all(data_type in NUMERIC_TYPES for _, _, data_type, _, _, _ in fields):
        return None
    pack_big = struct.Struct(f">{registers}H").pack
    pack_little = struct.Struct(f"<{registers}H").pack
    # (name, from the little-endian image, unpack_from, byte offset, float32, scaled, scale,
    # offset)
    reads: list[
        tuple[str, bool, Callable[[bytes, int], tuple[Any, ...]], int, bool, bool, float, float]
    ]
    reads = []
    for name, begin, data_type, order, scale, offset in fields:
        order = canonical_byte_order(order)
        reverse = order in ("CDAB", "DCBA")  # words in reverse order
        swap = order in ("BADC", "DCBA")  # bytes swapped within each word
        # reversed words read big-endian = the little-endian image read little-endian;
        # swapped bytes = the little-endian image read big-endian
        value_struct = struct.Struct(("<" if reverse else ">") + _FORMATS[data_type][1:])
        plain = scale == 1.0 and offset == 0.0
        reads.append(
            (
                name,
                reverse != swap,
                value_struct.unpack_from,
                2 * begin,
                data_type == "float32",
                not plain,
                scale,
                offset,
            )
        )
    need_big = not all(little for _, little, *_ in reads)
    need_little = any(little for _, little, *_ in reads)

    def decode(block: Sequence[int], values: dict[str, Decoded]) -> None:
        big = pack_big(*block) if need_big else b""
        little = pack_little(*block) if need_little else b""
        for name, from_little, unpack_from, at, float32, scaled, scale, offset in reads:
            value = unpack_from(little if from_little else big, at)[0]
            if float32:
                value = shortest_float32(value)
            values[name] = value * scale + offset if scaled else value

    return decode


def encode(
    value: Decoded, data_type: DataType, order: ByteOrder = "ABCD", count: int = 1
) -> list[int]:
    """The registers a device holding `value` would send (the inverse of `decode_raw`).

    Integers out of range are clamped, and floats rounded, so any waveform can be served.
    """
    size = register_count(data_type, count)
    if data_type == "bool":
        return [1 if value else 0]
    if data_type == "string":
        data = str(value).encode("utf-8")[: size * 2].ljust(size * 2, b"\0")
        if canonical_byte_order(order) in ("BADC", "DCBA"):
            data = _reorder(data, "BADC")
    else:
        fmt = _FORMATS[data_type]
        number: int | float
        if data_type.startswith("float"):
            number = float(value)
        else:
            bits = size * 16
            low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
            if data_type.startswith("u"):
                low, high = 0, 2**bits - 1
            if isinstance(value, int):
                whole = value
            else:
                as_float = float(value)
                whole = 0 if math.isnan(as_float) or math.isinf(as_float) else round(as_float)
            number = max(low, min(high, whole))
        data = _reorder(struct.pack(fmt, number), order)
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def unscaled(value: float, scale: float, offset: float) -> float:
    """The raw number whose scaled value is `value` (for the simulator)."""
    return (value - offset) / scale if scale else 0.0
