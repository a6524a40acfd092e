"""The cycle JSON of PRODUCT.md: `once --format json`, each jsonl line, `/api/v1/cycle`."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import orjson

from sensorpoll.daemon.cycle import Cycle


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cycle_to_dict(cycle: Cycle, *, measurements_only: bool = False) -> dict[str, Any]:
    """The cycle JSON. A device's `carried` (fields not read this cycle, with the time they
    were read) and `partial` (true) appear only when there is something to say.

    `measurements_only` (the jsonl sink): what was read this cycle, not carried copies --
    carried fields are left out, and devices not read this cycle altogether."""
    devices = []
    for d in cycle.devices:
        values = d.values
        carried = d.carried
        if carried and measurements_only:
            if not d.attempted:
                continue
            values = {k: v for k, v in values.items() if k not in carried}
            carried = {}
        device = {
            "device": d.device,
            "ok": d.ok,
            "error": d.error,
            "duration_s": round(d.duration_s, 6),
            "values": values,
        }
        if carried:
            device["carried"] = {name: iso_utc(when) for name, when in carried.items()}
        if d.partial:
            device["partial"] = True
        devices.append(device)
    return {
        "cycle": cycle.number,
        "started": iso_utc(cycle.started),
        "duration_s": round(cycle.duration_s, 6),
        "devices": devices,
    }


def cycle_to_json_bytes(
    cycle: Cycle, *, indent: bool = False, measurements_only: bool = False
) -> bytes:
    # orjson: ~20x faster than the json module for 1,000 devices (a jsonl line every cycle).
    # JSON has no NaN or infinity; orjson writes them as null, as a reader expects.
    data = cycle_to_dict(cycle, measurements_only=measurements_only)
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 if indent else 0)
    except orjson.JSONEncodeError:  # an integer wider than 64 bits: the slow, general path
        text = json.dumps(_finite(data), indent=2 if indent else None, allow_nan=False)
        return text.encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def cycle_to_json(
    cycle: Cycle, *, indent: int | None = None, measurements_only: bool = False
) -> str:
    return cycle_to_json_bytes(
        cycle, indent=indent is not None, measurements_only=measurements_only
    ).decode()
