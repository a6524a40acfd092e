"""A field's recent history as a small inline SVG line, drawn on the server (status page).

No script, no font: a polyline per unbroken run of points, a dot on the latest one.
"""

from __future__ import annotations

from html import escape

from sensorpoll.export.trends import Series

WIDTH, HEIGHT = 120, 28  # CSS pixels
SCALE = 10  # drawn in tenths of a pixel, as integers: short markup, quick to format


def sparkline(series: Series, window_s: float, step_s: float, label: str) -> str:
    """`series` over the last `window_s` seconds (right edge: now); points further apart than
    `step_s` (plus slack) are not joined, so an outage shows as a gap. `label` is the text
    a screen reader and a hover tooltip give."""
    values = series.values
    low, high = min(values), max(values)
    span = high - low
    pad = 3 * SCALE
    width, height = (WIDTH * SCALE - 2 * pad) / window_s, HEIGHT * SCALE - 2 * pad
    x0, scale_y = pad + WIDTH * SCALE - 2 * pad, height / span if span else 0.0
    middle = HEIGHT * SCALE // 2

    runs: list[list[str]] = []
    previous_age: float | None = None
    x = y = 0
    for age, value in series.points:
        if previous_age is None or previous_age - age > 1.5 * step_s:
            runs.append([])
        x = round(x0 - age * width)
        y = round(pad + (high - value) * scale_y) if span else middle
        runs[-1].append(f"{x},{y}")
        previous_age = age
    lines = "".join(f'<polyline points="{" ".join(run)}"/>' for run in runs if len(run) > 1)
    text = escape(label)
    return (
        f'<svg class="spark" viewBox="0 0 {WIDTH * SCALE} {HEIGHT * SCALE}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{text}"><title>{text}</title>{lines}'
        f'<circle cx="{x}" cy="{y}" r="{2 * SCALE}"/></svg>'
    )
