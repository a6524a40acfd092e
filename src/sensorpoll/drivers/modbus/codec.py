"""Register images <-> values: every data type, byte order, scale/offset and string rule.

Pure functions used by the driver (decode), the simulator and probe (encode, decode all).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, get_args

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
Block = list[int] | list[bool]  # the values one read request returns: registers or bits


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


class FieldLayout(NamedTuple):
    """Where one field sits in the block a request reads, and how to decode it."""

    name: str
    begin: int  # index of its first register (or bit) in the block
    data_type: DataType
    order: ByteOrder = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    string_registers: int = 1  # a string's length (other types have a fixed size)


BlockDecoder = Callable[[Sequence[int], dict[str, Decoded]], None]
# (the block, one of its two byte images) -> the field's value
_Reader = Callable[[Sequence[int], bytes], Decoded]
_BIG, _LITTLE = 0, 1  # the block's words packed big- or little-endian


def compile_decoder(fields: Sequence[FieldLayout], registers: int) -> BlockDecoder:
    """For a block of `registers` values: a function that decodes every field of `fields`
    into a dict, in that order, with the same results as `decode` per field. The driver
    compiles one per planned request and calls it every cycle.

    Numbers: the block is packed to bytes once per image a field needs and each field is one
    C `unpack_from`: every byte order is one of the two images read big- or little-endian, so
    no per-field slicing or repacking. Bools (and coil/discrete bits) and strings decode from
    their slice of the block."""
    packers = (struct.Struct(f">{registers}H").pack, struct.Struct(f"<{registers}H").pack)
    readers = [(field.name, *_reader(field)) for field in fields]
    needed = {image for _, image, _ in readers if image is not None}

    def decode(block: Sequence[int], values: dict[str, Decoded]) -> None:
        images = [pack(*block) if i in needed else b"" for i, pack in enumerate(packers)]
        for name, image, read in readers:
            values[name] = read(block, b"" if image is None else images[image])

    return decode


FrameDecoder = Callable[[bytes, dict[str, Decoded]], None]


def compile_frame_decoder(fields: Sequence[FieldLayout], registers: int) -> FrameDecoder | None:
    """`compile_decoder`, for the registers' bytes as a Modbus frame carries them (big-endian
    words: a Modbus TCP answer's data): each field is one C `unpack_from` of the frame's own
    bytes, with no list of registers built and packed again. None when a field needs another
    image (word- or byte-swapped orders) or the registers as numbers (strings, bools)."""
    readers = [(field.name, *_reader(field)) for field in fields]
    if any(image != _BIG for _, image, _ in readers):
        return None
    plain = [(name, read) for name, _, read in readers]

    def decode(data: bytes, values: dict[str, Decoded]) -> None:
        if len(data) != 2 * registers:  # the framing checked it; a wrong value is worse
            raise ValueError(f"{len(data)} bytes for {registers} registers")
        for name, read in plain:
            values[name] = read((), data)

    return decode


def _reader(field: FieldLayout) -> tuple[int | None, _Reader]:
    """Which byte image of the block `field` is read from (None: the block itself), and how."""
    _, begin, data_type, order, scale, offset, string_registers = field
    if data_type not in NUMERIC_TYPES:
        end = begin + register_count(data_type, string_registers)
        return None, lambda block, _: decode_raw(list(block[begin:end]), data_type, order)
    order = canonical_byte_order(order)
    reverse = order in ("CDAB", "DCBA")  # words in reverse order
    swap = order in ("BADC", "DCBA")  # bytes swapped within each word
    # reversed words read big-endian = the little-endian image read little-endian;
    # swapped bytes = the little-endian image read big-endian
    unpack_from = struct.Struct(("<" if reverse else ">") + _FORMATS[data_type][1:]).unpack_from
    image, at = (_LITTLE if reverse != swap else _BIG), 2 * begin
    if data_type == "float32":
        if scale == 1.0 and offset == 0.0:
            return image, lambda _, data: shortest_float32(unpack_from(data, at)[0])
        return image, lambda _, data: shortest_float32(unpack_from(data, at)[0]) * scale + offset
    if scale == 1.0 and offset == 0.0:
        return image, lambda _, data: unpack_from(data, at)[0]
    return image, lambda _, data: unpack_from(data, at)[0] * scale + offset


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
