"""The status page at `/`: every device at a glance, as one self-contained HTML document.

No scripts and no external assets; it refreshes itself with a meta refresh. All text escaped.
"""

from __future__ import annotations

import math
from html import escape

from sensorpoll.config.schema import Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.export.cyclejson import iso_utc
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.table import format_reading

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}
p.summary{margin:0 0 1em;color:#555}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4}
td.status{font-weight:bold;white-space:nowrap}
tr.up td.status{color:#17692b}
tr.down td.status{color:#b3161b}
tr.down{background:#fff3f3}
ul.values{list-style:none;margin:0;padding:0}
.muted{color:#888}
"""


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} d ago"


def render_status_page(
    cycle: Cycle | None, settings: Settings, history: DaemonHistory, now: float
) -> str:
    """The page for the latest cycle; `now` (wall clock) makes the ages."""
    refresh = max(1, math.ceil(settings.interval))
    head = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{refresh}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>sensorpoll</title><style>{_STYLE}</style></head><body>\n"
        "<h1>sensorpoll</h1>\n"
    )
    if cycle is None:
        return head + '<p class="summary">No cycle has completed yet.</p>\n</body></html>\n'
    up = sum(1 for d in cycle.devices if d.ok)
    summary = (
        f'<p class="summary" id="summary">{len(cycle.devices)} devices, {up} up, '
        f"{len(cycle.devices) - up} down · cycle {cycle.number} started "
        f"{escape(iso_utc(cycle.started))}, took {cycle.duration_s * 1000:.1f} ms · "
        f"interval {settings.interval:g} s · {cycle.overruns_total} overruns</p>\n"
    )
    units = {d.name: {f.name: f.unit for f in d.fields} for d in settings.devices}
    rows = []
    for result in cycle.devices:
        past = history.devices.get(result.device)
        status = "up" if result.ok else "down"
        field_units = units.get(result.device, {})
        values = "".join(
            f"<li>{escape(name)} = {escape(format_reading(value, field_units.get(name)))}</li>"
            for name, value in result.values.items()
        )
        values_cell = (
            f'<ul class="values">{values}</ul>' if values else '<span class="muted">none</span>'
        )
        error = past.last_error if past is not None else None
        error_cell = escape(error) if error else '<span class="muted">none</span>'
        if error and past is not None and past.last_error_at is not None:
            error_cell += f' <span class="muted">({format_age(now - past.last_error_at)})</span>'
        success = past.last_success if past is not None else None
        age = format_age(None if success is None else now - success)
        rows.append(
            f'<tr class="device {status}" data-device="{escape(result.device)}" '
            f'data-status="{status}"><td class="name">{escape(result.device)}</td>'
            f'<td class="status">{status.upper()}</td><td>{values_cell}</td>'
            f"<td>{error_cell}</td><td>{escape(age)}</td>"
            f"<td>{result.duration_s * 1000:.1f} ms</td></tr>\n"
        )
    table = (
        '<table id="devices"><thead><tr><th>device</th><th>status</th><th>values</th>'
        "<th>last error</th><th>last success</th><th>read</th></tr></thead><tbody>\n"
        + "".join(rows)
        + "</tbody></table>\n"
    )
    return head + summary + table + "</body></html>\n"
