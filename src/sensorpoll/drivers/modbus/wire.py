"""Serial line timing: RTU inter-frame silence and the time one read request occupies a line.

Used by the bus queue (silence between frames), `sensorpoll check` (bus load) and bench.
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
