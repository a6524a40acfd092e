"""float32 registers as the decimal the device meant: the shortest one that reads back as the
same float32 (0.1, not 0.10000000149011612, its exact value widened to a float64)."""

from __future__ import annotations

import math
import struct

_FLOAT32 = struct.Struct("<f")
SMALLEST_NORMAL = 1.1754943508222875e-38  # float32


def shortest_float32(value: float) -> float:
    """`value` (a float32 widened to a float) as the float of its shortest round-trip decimal.

    6 significant digits always survive a float32, 9 always identify one; the first length
    whose rounding packs to the same four bytes is the shortest (rounding to 6 digits gives
    any shorter one too, its trailing zeros dropped by `g`)."""
    if not math.isfinite(value):
        return value
    exact = _FLOAT32.pack(value)
    # subnormals carry fewer digits, so a shorter decimal than 6 digits' rounding may fit
    lengths = range(1, 9) if abs(value) < SMALLEST_NORMAL else range(6, 9)
    for digits in lengths:
        candidate = float(f"{value:.{digits}g}")
        try:
            if _FLOAT32.pack(candidate) == exact:
                return candidate
        except OverflowError:  # rounded past the largest float32
            continue
    return float(f"{value:.9g}")
