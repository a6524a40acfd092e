"""The cycle JSON (docs/export.md): `once --format json`, each jsonl line, `/api/v1/cycle`.

A pure function of a finished `Cycle`, like everything in export."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import orjson

from sensorpoll.daemon.cycle import Cycle, DeviceResult


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cycle_to_dict(cycle: Cycle) -> dict[str, Any]:
    return {
        "cycle": cycle.number,
        "started": iso_utc(cycle.started),
        "duration_s": round(cycle.duration_s, 6),
        "devices": [_device_dict(d) for d in cycle.devices],
    }


def _device_dict(d: DeviceResult) -> dict[str, Any]:
    return {
        "device": d.device,
        "ok": d.ok,
        "error": d.error,
        "duration_s": round(d.duration_s, 6),
        "values": d.values,
    }


def device_message(cycle: Cycle, result: DeviceResult, started: str) -> bytes:
    """One device's part of the cycle JSON, after the cycle's number and start (`iso_utc`,
    made once per cycle by the caller): what the MQTT sink publishes per device."""
    return _dumps({"cycle": cycle.number, "started": started, **_device_dict(result)})


def cycle_to_json_bytes(cycle: Cycle, *, indent: bool = False) -> bytes:
    # orjson: ~20x faster than the json module for 1,000 devices (a jsonl line every cycle).
    # JSON has no NaN or infinity; orjson writes them as null, as a reader expects.
    return _dumps(cycle_to_dict(cycle), indent=indent)


def _dumps(data: dict[str, Any], *, indent: bool = False) -> bytes:
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


def cycle_to_json(cycle: Cycle, *, indent: int | None = None) -> str:
    return cycle_to_json_bytes(cycle, indent=indent is not None).decode()
