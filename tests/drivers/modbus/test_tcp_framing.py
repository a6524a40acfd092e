"""The Modbus TCP frame parser, fuzzed: whatever bytes arrive, in whatever pieces, the pending
request gets exactly the values a frame answering it holds, an error, or nothing yet (its
deadline then ends it); nothing raises out of the protocol and nothing hangs."""

from __future__ import annotations

import asyncio
import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sensorpoll.drivers.errors import DeviceConnectionError, DeviceError
from sensorpoll.drivers.modbus.errors import ModbusExceptionResponse
from sensorpoll.drivers.modbus.tcp import ModbusTcpProtocol, PendingRead

TID, UNIT = 0x1234, 7


def frame(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def registers_answer(values: list[int], function: int = 3) -> bytes:
    return bytes([function, 2 * len(values)]) + struct.pack(f">{len(values)}H", *values)


def expected(stream: bytes, function: int, count: int) -> object:
    """The spec, written plainly: the first whole frame for our transaction and unit decides;
    bytes that are not a frame header end the search (nothing after them counts)."""
    at = 0
    while len(stream) - at >= 7:
        tid, protocol, length, unit = struct.unpack_from(">HHHB", stream, at)
        if protocol != 0 or not 2 <= length <= 254:
            return None
        end = at + 6 + length
        if end > len(stream):
            return None
        if (tid, unit) == (TID, UNIT):
            pdu = stream[at + 7 : end]
            if len(pdu) == 2 + 2 * count and pdu[0] == function and pdu[1] == 2 * count:
                return list(struct.unpack_from(f">{count}H", pdu, 2))
            return "error"
        at = end
    return None


def feed(pieces: list[bytes], count: int, function: int = 3) -> tuple[ModbusTcpProtocol, object]:
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
        protocol = ModbusTcpProtocol()
        protocol.expect(PendingRead(TID, UNIT, function, count, future))
        for piece in pieces:
            protocol.data_received(piece)
        outcome: object = None
        if future.done():
            error = future.exception()
            assert error is None or isinstance(error, DeviceError)
            outcome = "error" if error is not None else future.result()
        return protocol, outcome
    finally:
        loop.close()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


registers = st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125)
cuts = st.lists(st.integers(0, 300), max_size=8)


@given(registers, cuts)
def test_an_answer_in_any_pieces_gives_exactly_its_values(values, cut_at):
    stream = frame(TID, UNIT, registers_answer(values))
    _, outcome = feed(split(stream, cut_at), len(values))
    assert outcome == values


@given(registers, st.integers(0, 0xFFFF).filter(lambda t: t != TID), cuts)
def test_a_late_answer_to_an_earlier_request_is_skipped(values, stale_tid, cut_at):
    stream = frame(stale_tid, UNIT, registers_answer([v ^ 1 for v in values]))
    stream += frame(TID, UNIT, registers_answer(values))
    _, outcome = feed(split(stream, cut_at), len(values))
    assert outcome == values


pieces_of_streams = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.builds(
            lambda tid, unit, values: frame(tid, unit, registers_answer(values)),
            st.sampled_from([TID, TID + 1]),
            st.sampled_from([UNIT, 0]),
            st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4),
        ),
        st.builds(lambda code: frame(TID, UNIT, bytes([0x83, code])), st.integers(0, 255)),
    ),
    max_size=6,
)


@settings(max_examples=300)
@given(pieces_of_streams, st.integers(1, 4), cuts)
def test_any_bytes_give_the_framed_answer_an_error_or_nothing_never_another_value(
    parts, count, cut_at
):
    stream = b"".join(parts)
    _, outcome = feed(split(stream, cut_at), count)
    assert outcome == expected(stream, 3, count)


@given(pieces_of_streams, st.integers(1, 4))
def test_a_lost_connection_always_ends_the_pending_request(parts, count):
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
        protocol = ModbusTcpProtocol()
        protocol.expect(PendingRead(TID, UNIT, 3, count, future))
        protocol.data_received(b"".join(parts))
        protocol.connection_lost(None)
        assert future.done()
        if future.exception() is not None:
            assert isinstance(future.exception(), DeviceError)
    finally:
        loop.close()


@given(st.integers(0, 255))
def test_an_exception_answer_carries_its_code(code):
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
        protocol = ModbusTcpProtocol()
        protocol.expect(PendingRead(TID, UNIT, 3, 1, future))
        protocol.data_received(frame(TID, UNIT, bytes([0x83, code])))
        error = future.exception()
        assert isinstance(error, ModbusExceptionResponse)
        assert error.code == code
    finally:
        loop.close()


@given(st.lists(st.booleans(), min_size=1, max_size=2000))
def test_coil_bits_come_back_in_address_order(bits):
    packed = bytes(
        sum(1 << i for i, bit in enumerate(bits[at : at + 8]) if bit)
        for at in range(0, len(bits), 8)
    )
    _, outcome = feed([frame(TID, UNIT, bytes([1, len(packed)]) + packed)], len(bits), function=1)
    assert outcome == bits


def test_a_connection_closed_mid_request_is_a_connection_error():
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()
        protocol = ModbusTcpProtocol()
        protocol.expect(PendingRead(TID, UNIT, 3, 1, future))
        protocol.connection_lost(None)
        assert isinstance(future.exception(), DeviceConnectionError)
    finally:
        loop.close()
