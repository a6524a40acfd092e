"""Decoding against hand-computed register images, and encode/decode round trips."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorpoll.drivers.modbus.codec import (
    BYTE_ORDERS,
    CANONICAL_ORDERS,
    DATA_TYPES,
    NUMERIC_TYPES,
    FieldLayout,
    canonical_byte_order,
    compile_decoder,
    compile_frame_decoder,
    decode,
    decode_raw,
    encode,
    register_count,
)

# (type, byte order, registers as sent, value): worked out by hand from the byte patterns
IMAGES = [
    # 16 bit: the two letters of the order that matter are the byte order within the register
    ("uint16", "ABCD", [0x1234], 0x1234),
    ("uint16", "CDAB", [0x1234], 0x1234),
    ("uint16", "BADC", [0x3412], 0x1234),
    ("uint16", "DCBA", [0x3412], 0x1234),
    ("int16", "ABCD", [0xFFFE], -2),
    ("int16", "BADC", [0xFEFF], -2),
    ("int16", "ABCD", [0x8000], -32768),
    # 32 bit, 0x12345678
    ("uint32", "ABCD", [0x1234, 0x5678], 0x12345678),
    ("uint32", "CDAB", [0x5678, 0x1234], 0x12345678),
    ("uint32", "BADC", [0x3412, 0x7856], 0x12345678),
    ("uint32", "DCBA", [0x7856, 0x3412], 0x12345678),
    ("int32", "ABCD", [0xFFFF, 0xFFFF], -1),
    ("int32", "CDAB", [0xFFFE, 0xFFFF], -2),
    # float32 12.5 = 0x41480000
    ("float32", "ABCD", [0x4148, 0x0000], 12.5),
    ("float32", "CDAB", [0x0000, 0x4148], 12.5),
    ("float32", "BADC", [0x4841, 0x0000], 12.5),
    ("float32", "DCBA", [0x0000, 0x4841], 12.5),
    # 64 bit, 0x0102030405060708, under both spellings of each order
    ("uint64", "ABCD", [0x0102, 0x0304, 0x0506, 0x0708], 0x0102030405060708),
    ("uint64", "ABCDEFGH", [0x0102, 0x0304, 0x0506, 0x0708], 0x0102030405060708),
    ("uint64", "HGFEDCBA", [0x0807, 0x0605, 0x0403, 0x0201], 0x0102030405060708),
    ("uint64", "DCBA", [0x0807, 0x0605, 0x0403, 0x0201], 0x0102030405060708),
    ("uint64", "BADCFEHG", [0x0201, 0x0403, 0x0605, 0x0807], 0x0102030405060708),
    ("uint64", "GHEFCDAB", [0x0708, 0x0506, 0x0304, 0x0102], 0x0102030405060708),
    ("uint64", "CDAB", [0x0708, 0x0506, 0x0304, 0x0102], 0x0102030405060708),
    ("uint64", "ABCD", [0xFFFF] * 4, 2**64 - 1),
    ("int64", "ABCD", [0xFFFF] * 4, -1),
    ("int64", "GHEFCDAB", [0x0000, 0x0000, 0x0000, 0x8000], -(2**63)),
    # float64 1.0 = 0x3FF0000000000000, -2.5 = 0xC004000000000000
    ("float64", "ABCDEFGH", [0x3FF0, 0, 0, 0], 1.0),
    ("float64", "HGFEDCBA", [0, 0, 0, 0xF03F], 1.0),
    ("float64", "BADCFEHG", [0x04C0, 0, 0, 0], -2.5),
    ("float64", "GHEFCDAB", [0, 0, 0, 0xC004], -2.5),
    # bool from a register: nonzero is true
    ("bool", "ABCD", [0], False),
    ("bool", "ABCD", [0x0100], True),
]

STRINGS = [
    ([0x4142, 0x4300], "ABCD", "ABC"),  # trailing NUL stripped
    ([0x4142, 0x2020], "ABCD", "AB"),  # trailing spaces stripped
    ([0x2041, 0x0042], "ABCD", " A"),  # cut at the first NUL; leading space kept
    ([0x4241, 0x0043], "BADC", "ABC"),  # low byte first
    ([0x4241, 0x0043], "DCBA", "ABC"),
    ([0x4142, 0x4344], "CDAB", "ABCD"),  # register order is not swapped for text
    ([0x0000, 0x0000], "ABCD", ""),
]


@pytest.mark.parametrize(("data_type", "order", "registers", "value"), IMAGES)
def test_decodes_hand_computed_register_images(data_type, order, registers, value):
    decoded = decode_raw(registers, data_type, order)
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.parametrize(("registers", "order", "text"), STRINGS)
def test_decodes_strings_with_trailing_nuls_and_spaces_stripped(registers, order, text):
    assert decode_raw(registers, "string", order) == text


@pytest.mark.parametrize(
    ("data_type", "order", "registers", "value"), [i for i in IMAGES if i[0] != "bool"]
)
def test_encodes_to_the_same_images(data_type, order, registers, value):
    assert encode(value, data_type, order) == registers


def test_scale_and_offset_give_raw_times_scale_plus_offset():
    assert decode([250], "int16", scale=0.1, offset=-5) == pytest.approx(20.0)


def test_integer_stays_an_integer_without_scale_or_offset():
    assert isinstance(decode([7], "uint16"), int)


def test_scaled_integer_becomes_a_float():
    assert decode([7], "uint16", scale=2) == 14.0
    assert isinstance(decode([7], "uint16", scale=2), float)


def test_nan_float_decodes_as_nan():
    assert math.isnan(decode_raw([0x7FC0, 0], "float32", "ABCD"))


def test_register_counts():
    sizes = {t: register_count(t) for t in ("int16", "uint32", "float32", "int64", "float64")}
    assert sizes == {"int16": 1, "uint32": 2, "float32": 2, "int64": 4, "float64": 4}
    assert register_count("string", 5) == 5


INT_RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
orders = st.sampled_from(CANONICAL_ORDERS)


@given(
    st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda t: st.tuples(st.just(t), st.integers(*INT_RANGES[t]))
    ),
    orders,
)
def test_integers_round_trip_in_every_byte_order(typed_value, order):
    data_type, value = typed_value
    registers = encode(value, data_type, order)
    assert all(0 <= r <= 0xFFFF for r in registers)
    assert len(registers) == register_count(data_type)
    assert decode_raw(registers, data_type, order) == value


@given(st.floats(width=32, allow_nan=False), orders)
def test_float32_round_trips_in_every_byte_order(value, order):
    decoded = decode_raw(encode(value, "float32", order), "float32", order)
    assert struct.pack("<f", decoded) == struct.pack("<f", value)


@given(st.floats(allow_nan=False), orders)
def test_float64_round_trips_in_every_byte_order(value, order):
    assert decode_raw(encode(value, "float64", order), "float64", order) == value


@given(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=16),
    st.integers(8, 12),
    orders,
)
def test_ascii_strings_round_trip(text, count, order):
    assert decode_raw(encode(text, "string", order, count), "string", order) == text


@given(st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2), orders)
def test_every_register_image_decodes_and_reencodes_to_itself(registers, order):
    value = decode_raw(registers, "uint32", order)
    assert encode(value, "uint32", order) == registers
    as_float = decode_raw(registers, "float32", order)
    if not math.isnan(as_float):
        assert encode(as_float, "float32", order) == registers


def test_out_of_range_values_are_clamped_when_encoding():
    assert encode(70000, "uint16") == [0xFFFF]
    assert encode(-5, "uint16") == [0]
    assert struct.unpack(">h", encode(1e9, "int16")[0].to_bytes(2, "big"))[0] == 32767


def decoded(fields: list[FieldLayout], block: list[int]) -> dict[str, object]:
    values: dict[str, object] = {}
    compile_decoder(fields, len(block))(block, values)  # type: ignore[arg-type]
    return values


def same(a: object, b: object) -> bool:
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


@pytest.mark.parametrize(("data_type", "order", "registers", "value"), IMAGES)
def test_compiled_decoder_matches_decode(data_type, order, registers, value):
    # the field behind a register of padding, so its offset in the block is not 0
    block = [0xABCD, *registers, 0x1234]
    field = FieldLayout("f", 1, data_type, order, string_registers=len(registers))
    assert same(decoded([field], block)["f"], decode(registers, data_type, order))


@given(
    st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4),
    st.sampled_from([t for t in NUMERIC_TYPES if not t.startswith("float")]),
    orders,
    st.sampled_from([1.0, 0.1, -2.0]),
    st.sampled_from([0.0, 5.5]),
)
def test_compiled_decoder_matches_decode_with_scale_and_offset(
    registers, data_type, order, scale, offset
):
    size = register_count(data_type)
    field = FieldLayout("f", 0, data_type, order, scale, offset)
    expected = decode(registers[:size], data_type, order, scale, offset)
    assert decoded([field], registers[:size]) == {"f": expected}


@given(
    st.lists(st.integers(0, 0xFFFF), min_size=12, max_size=12),
    st.lists(
        st.tuples(
            st.integers(0, 8),
            st.sampled_from(DATA_TYPES),
            st.sampled_from(BYTE_ORDERS),
            st.sampled_from([1.0, 0.1, -2.0]),
            st.sampled_from([0.0, 5.5]),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_compiled_decoder_decodes_every_field_of_a_block_as_decode_does(block, specs):
    fields = []
    for begin, data_type, order, scale, offset in specs:
        if len(order) == 8 and register_count(data_type) != 4:
            order = CANONICAL_ORDERS[BYTE_ORDERS.index(order) - 4]
        if data_type not in NUMERIC_TYPES:
            scale, offset = 1.0, 0.0
        fields.append(FieldLayout(f"f{len(fields)}", begin, data_type, order, scale, offset, 3))
    values = decoded(fields, block)
    expected = {
        f.name: decode(
            block[f.begin : f.begin + register_count(f.data_type, 3)],
            f.data_type,
            f.order,
            f.scale,
            f.offset,
        )
        for f in fields
    }
    assert list(values) == list(expected)
    for name, value in values.items():
        assert same(value, expected[name])


def test_compiled_decoder_reads_coil_bits_as_bools():
    fields = [FieldLayout("first", 0, "bool"), FieldLayout("third", 2, "bool")]
    assert decoded(fields, [True, False, False]) == {"first": True, "third": False}


@given(st.data())
def test_the_frame_decoder_reads_what_the_block_decoder_reads(data):
    # fields of any numeric type, byte order and scale side by side in one block; the frame
    # decoder (for the answer's own bytes) either declines or gives the very same values
    fields, at = [], 0
    for i in range(data.draw(st.integers(1, 6), label="fields")):
        data_type = data.draw(st.sampled_from(sorted(NUMERIC_TYPES)))
        order = data.draw(st.sampled_from(sorted(BYTE_ORDERS)))
        scale = data.draw(st.sampled_from([1.0, 0.1, -2.5]))
        fields.append(FieldLayout(f"f{i}", at, data_type, order, scale))
        at += register_count(data_type)
    block = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=at, max_size=at))
    frame = compile_frame_decoder(fields, at)
    if all(canonical_byte_order(f.order) in ("ABCD", "DCBA") for f in fields):
        assert frame is not None  # every field reads the big-endian image
    if frame is None:
        return
    from_frame: dict[str, object] = {}
    frame(struct.pack(f">{at}H", *block), from_frame)  # type: ignore[arg-type]
    expected = decoded(fields, block)
    assert list(from_frame) == list(expected)
    assert all(same(from_frame[name], expected[name]) for name in expected)


def test_the_frame_decoder_declines_what_needs_the_registers_as_numbers():
    assert compile_frame_decoder([FieldLayout("s", 0, "string", string_registers=4)], 4) is None
    assert compile_frame_decoder([FieldLayout("b", 0, "bool")], 1) is None
    assert compile_frame_decoder([FieldLayout("v", 0, "float32", "CDAB")], 2) is None
    decode_frame = compile_frame_decoder([FieldLayout("v", 0, "float32")], 2)
    assert decode_frame is not None
    with pytest.raises(ValueError, match="2 bytes for 2 registers"):
        decode_frame(b"\x00\x01", {})
