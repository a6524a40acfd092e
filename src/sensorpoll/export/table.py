"""`sensorpoll once --format table`: one cycle as an aligned table a person reads."""

from __future__ import annotations

from sensorpoll.config.schema import Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.drivers.base import Value


def format_reading(value: Value | None, unit: str | None) -> str:
    """A reading as a person reads it, with its unit: `12.5 celsius`, `true`, `'SN42'`;
    `null` for a field with no valid value this cycle."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def render_table(cycle: Cycle, settings: Settings) -> str:
    units = {d.name: {f.name: f.unit for f in d.fields} for d in settings.devices}
    header = ("DEVICE", "OK", "DURATION", "VALUES", "ERROR")
    rows = [header]
    for result in cycle.devices:
        field_units = units.get(result.device, {})
        values = ", ".join(
            f"{name}={format_reading(v, field_units.get(name))}"
            for name, v in result.values.items()
        )
        error = result.error or ""
        if result.detail and not result.ok:
            error = f"{error}: {result.detail}"
        rows.append(
            (
                result.device,
                "yes" if result.ok else "NO",
                f"{result.duration_s * 1000:.1f} ms",
                values,
                error,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    failed = cycle.failed
    lines.append(
        f"cycle {cycle.number}: {len(cycle.devices)} device{'s' * (len(cycle.devices) != 1)}, "
        f"{len(cycle.devices) - failed} ok, "
        f"{failed} failed, {cycle.duration_s * 1000:.1f} ms"
    )
    return "\n".join(line.rstrip() for line in lines)
