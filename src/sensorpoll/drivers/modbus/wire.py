"""The serial wire: RTU inter-frame silence, the time one read occupies a line, RTU's CRC.

Used by the bus queue (silence between frames), `sensorpoll check` (bus load), the client
(telling a corrupted answer from none) and bench.
"""

from __future__ import annotations

import math

BITS_PER_CHAR = 11  # start + 8 data + parity or second stop + stop: the spec's RTU character
TURNAROUND = 0.005  # assumed slave processing time per request, for estimates only


def char_time(baudrate: int) -> float:
    return BITS_PER_CHAR / baudrate


def silence(baudrate: int) -> float:
    """t3.5: the silence that ends an RTU frame; fixed at 1.75 ms above 19200 baud."""
    if baudrate > 19200:
        return 0.00175
    return 3.5 * char_time(baudrate)


def response_bytes(count: int, bits: bool = False) -> int:
    """RTU response to a read: address, function, byte count, data, CRC(2)."""
    data = math.ceil(count / 8) if bits else 2 * count
    return 5 + data


REQUEST_BYTES = 8  # address, function, start(2), count(2), CRC(2)


def request_time(
    count: int, baudrate: int, *, bits: bool = False, turnaround: float = TURNAROUND
) -> float:
    """Seconds one read of `count` registers holds the line:
    (8 + 5 + 2N) x 11 / baud + 2 x t3.5 + turnaround."""
    chars = REQUEST_BYTES + response_bytes(count, bits)
    return chars * char_time(baudrate) + 2 * silence(baudrate) + turnaround


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def rtu_crc(frame: bytes) -> int:
    """CRC-16/MODBUS of `frame` (sent low byte first after it)."""
    crc = 0xFFFF
    for byte in frame:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


READ_FUNCTIONS = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}


def fails_crc(received: bytes, unit: int, table: str, count: int) -> bool:
    """Whether `received` starts with `unit`'s whole answer to a read of `count` from `table`
    (values or exception), whose CRC does not match: a corrupted answer, not a missing one."""
    function = READ_FUNCTIONS[table]
    if len(received) < 5 or received[0] != unit:
        return False
    if received[1] == function | 0x80:
        size = 5
    elif (
        received[1] == function
        and received[2] == response_bytes(count, table in ("coil", "discrete")) - 5
    ):
        size = received[2] + 5
    else:
        return False
    if len(received) < size:
        return False
    return rtu_crc(received[: size - 2]) != int.from_bytes(received[size - 2 : size], "little")
