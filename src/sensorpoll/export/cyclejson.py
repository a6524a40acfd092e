"""The cycle JSON of PRODUCT.md: `once --format json`, each jsonl line, `/api/v1/cycle`."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from sensorpoll.daemon.cycle import Cycle


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_value(value: Any) -> Any:
    # JSON has no NaN or infinity: a float that is not finite is written as null
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cycle_to_dict(cycle: Cycle) -> dict[str, Any]:
    return {
        "cycle": cycle.number,
        "started": iso_utc(cycle.started),
        "duration_s": round(cycle.duration_s, 6),
        "devices": [
            {
                "device": d.device,
                "ok": d.ok,
                "error": d.error,
                "duration_s": round(d.duration_s, 6),
                "values": {k: _json_value(v) for k, v in d.values.items()},
            }
            for d in cycle.devices
        ],
    }


def cycle_to_json(cycle: Cycle, *, indent: int | None = None) -> str:
    separators = (",", ":") if indent is None else None
    return json.dumps(cycle_to_dict(cycle), indent=indent, separators=separators, allow_nan=False)
