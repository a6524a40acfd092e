"""Readings of many devices when a few are not plain reads: each device's series, values and
absence are its own, whatever its neighbours did."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.readings import ReadingPlan
from tests.export.helpers import settings_from

NAMES = [f"d{i:02d}" for i in range(30)]
FIELDS = "[{name: a, value: 1}, {name: b, value: 2}]"
CONFIG = "interval: 1s\ndevices:\n" + "".join(
    f"  - {{name: {n}, driver: simulated, fields: {FIELDS}}}\n" for n in NAMES
)


def result(position: int, name: str) -> DeviceResult:
    a, b = float(position), position + 0.5
    if name == "d05":
        return DeviceResult(name, False, "timeout", 0.5, {})
    if name == "d12":
        return DeviceResult(
            name, True, None, 0.0, {"a": a, "b": b}, attempted=False, carried={"a": 1.0}
        )
    if name == "d20":
        return DeviceResult(name, True, None, 0.01, {"a": None, "b": b}, invalid=("a",))
    if name == "d29":
        return DeviceResult(name, False, "timeout", 0.5, {"a": a, "b": None}, partial=True)
    return DeviceResult(name, True, None, 0.01, {"a": a, "b": b})


def test_devices_between_failed_carried_invalid_and_partial_ones_export_their_own_values() -> None:
    results = tuple(result(p, name) for p, name in enumerate(NAMES))
    families = ReadingPlan(settings_from(CONFIG)).render(Cycle(1, 1.8e9, 1.0, 0.1, results))
    text = b"".join(f.text_header + f.samples for f in families).decode()
    exported = {(s.name, s.labels["device"]): s.value for f in parse_text(text) for s in f.samples}
    expected = {
        (f"lab_{field}", name): p + offset
        for p, name in enumerate(NAMES)
        for field, offset in (("a", 0.0), ("b", 0.5))
        if name != "d05" and (field, name) not in {("a", "d20"), ("b", "d29")}
    }
    assert exported == expected
