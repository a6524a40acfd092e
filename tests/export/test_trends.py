"""The sparklines' rings over many devices: each device's points where they belong, through
devices going down and reloads that move, keep or change devices."""

from __future__ import annotations

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.trends import Trends
from tests.export.helpers import settings_from


def config(*devices: str) -> str:
    lines = ["interval: 1s", "devices:"]
    for device in devices:
        name, _, fields = device.partition(":")
        listed = ", ".join(f"{{name: {f}, value: 1}}" for f in (fields or "t").split(","))
        lines.append(f"  - {{name: {name}, driver: simulated, fields: [{listed}]}}")
    return "\n".join(lines) + "\n"


def cycle(i: int, names: list[str], down: frozenset[str] = frozenset()) -> Cycle:
    """Cycle i, every device reading i + its position for each field (`t` unless named)."""
    results = tuple(
        DeviceResult(name, False, "timeout", 0.5, {})
        if name in down
        else DeviceResult(name, True, None, 0.01, {"t": float(i + p), "u": float(-i - p)})
        for p, name in enumerate(names)
    )
    return Cycle(i, 1_800_000_000.0 + i, float(i), 0.01, results)


def values(trends: Trends, device: str, field: str = "t") -> list[float]:
    series = trends.series(device, field)
    return series.values if series is not None else []


NAMES = [f"d{i}" for i in range(12)]


def test_a_device_down_at_its_turn_leaves_a_gap_and_the_others_get_their_point() -> None:
    trends = Trends(settings_from(config(*NAMES)))
    for i in range(5, 600):
        trends.observe(cycle(i, NAMES, frozenset({"d3"}) if 100 <= i < 200 else frozenset()))
    assert not any(100 <= v - 3 < 200 for v in values(trends, "d3"))
    assert any(100 <= v - 4 < 200 for v in values(trends, "d4"))
    assert any(100 <= v - 2 < 200 for v in values(trends, "d2"))


def test_each_device_s_points_are_its_own_values() -> None:
    trends = Trends(settings_from(config(*[f"{n}:t,u" for n in NAMES])))
    for i in range(5, 300):
        trends.observe(cycle(i, NAMES))
    for p, name in enumerate(NAMES):
        read = values(trends, name)
        assert read
        assert values(trends, name, "u") == [-t for t in read]
        assert all(5 <= t - p < 300 and (t - p).is_integer() for t in read)


def test_a_reload_keeps_the_points_of_devices_it_keeps_even_when_they_move() -> None:
    trends = Trends(settings_from(config(*NAMES)))
    for i in range(5, 300):
        trends.observe(cycle(i, NAMES))
    before = values(trends, "d7")
    moved = ["new", *reversed(NAMES[4:]), "d0:t,u"]
    trends.reconfigure(settings_from(config(*moved)))
    assert values(trends, "d7") == before
    assert values(trends, "new") == []
    assert values(trends, "d0") == []  # its fields changed: afresh
    assert trends.series("d1", "t") is None  # removed
