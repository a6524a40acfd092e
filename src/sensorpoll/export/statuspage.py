"""The status page at `/`: every device at a glance, for a person, as one self-contained page.

A function of the latest cycle, the daemon's history and the fields' trends. No external
assets; works without JavaScript (a meta refresh), and a small inline script, where scripts
run, updates it in place instead. All text escaped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from html import escape

from sensorpoll.config.schema import DeviceConfig, Settings
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.drivers.base import Value
from sensorpoll.export.daemonmetrics import DaemonHistory, DeviceHistory
from sensorpoll.export.sinkmetrics import SinkStats
from sensorpoll.export.sparkline import sparkline
from sensorpoll.export.trends import WINDOW, Trends
from sensorpoll.export.unitsymbols import display_unit

PAGE_SIZE = 25  # devices a page: a page stays quick to render and to scroll on a phone
DOWN_LINKS = 10  # down devices linked from the summary when there are several pages

_STYLE = """
*{box-sizing:border-box}
body{font:15px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
background:#f2f3f5}
.top{background:#fff;border-bottom:1px solid #d8dadd;padding:10px 16px}
h1{font-size:1.2em;margin:0 1em 0 0;display:inline}
nav{display:inline}
nav a{color:#0b57d0;margin-right:.9em;white-space:nowrap}
.summary{margin:.3em 0 0;color:#555}
.summary b{color:#1f2328}
.summary a{color:#0b57d0}
.pages a{margin-left:.6em}
.summary .bad{color:#b3161b}
#devices{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,360px),1fr));
gap:12px;padding:12px;margin:0}
.device{background:#fff;border:1px solid #d8dadd;border-left:5px solid #1a7f37;
border-radius:8px;padding:8px 12px 10px;min-width:0}
.device.down{border-left-color:#c62828;background:#fff8f8}
.device h2{font-size:1.05em;margin:0;display:flex;flex-wrap:wrap;align-items:center;
gap:.2em .5em;overflow-wrap:break-word}
.badge{font-size:.7em;font-weight:700;letter-spacing:.04em;color:#fff;background:#1a7f37;
border-radius:4px;padding:1px 6px}
.down .badge{background:#c62828}
.labels{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px}
.labels li{font-size:.75em;font-weight:400;color:#3d4a66;background:#e8edf7;border-radius:9px;
padding:0 7px}
table.fields{width:100%;border-collapse:collapse;margin:.4em 0 .2em}
.fields th{font-weight:400;color:#444;text-align:left;padding:3px 8px 3px 0;
overflow-wrap:break-word}
.fields td{padding:3px 0;vertical-align:middle}
.fields tr+tr>*{border-top:1px solid #eef0f2}
.fields .value{text-align:right;white-space:nowrap;font-weight:600;
font-variant-numeric:tabular-nums;padding-right:10px}
.fields .value.text{white-space:normal;overflow-wrap:break-word;font-weight:400}
.fields .trend{width:122px;line-height:0}
.fields .range{display:block;font-size:.7em;line-height:1.3;color:#777;
font-variant-numeric:tabular-nums;white-space:nowrap}
.spark polyline{fill:none;stroke:#0b57d0;stroke-width:15;stroke-linejoin:round}
.spark circle{fill:#0b57d0}
.none{color:#999;font-weight:400}
.meta{font-size:.85em;color:#555;margin:.3em 0 0}
.error{font-size:.85em;color:#b3161b;margin:.3em 0 0;overflow-wrap:anywhere}
.error.past{color:#777}
"""

# Where scripts run: fetch the page each interval and swap in the new content (no reload, no
# flicker, the scroll position kept); paused while the tab is hidden. Without scripts the
# <noscript> meta refresh reloads the page instead.
_SCRIPT = """
(function(){var ms=%d;function tick(){if(document.hidden){setTimeout(tick,ms);return}
fetch(location.href,{cache:"no-store"}).then(function(r){return r.text()}).then(function(t){
var d=new DOMParser().parseFromString(t,"text/html");["summary","devices"].forEach(function(i){
var n=d.getElementById(i),o=document.getElementById(i);if(n&&o)o.replaceWith(n)})})
.catch(function(){}).finally(function(){setTimeout(tick,ms)})}setTimeout(tick,ms)})();
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


def format_clock(timestamp: float, now: float) -> str:
    """Local time: `14:05:03` today, `2026-11-30 14:05` on another day."""
    when = datetime.fromtimestamp(timestamp).astimezone()
    if when.date() == datetime.fromtimestamp(now).astimezone().date():
        return when.strftime("%H:%M:%S")
    return when.strftime("%Y-%m-%d %H:%M")


def format_number(value: float | int) -> str:
    """Up to 6 significant digits, without an exponent for ordinary magnitudes."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    # 6 significant digits, more for a large reading (an energy meter's 183402.72 kWh)
    whole = len(str(int(abs(value)))) if abs(value) < 1e15 else 0
    return f"{value:.{max(6, min(whole + 2, 15))}g}"


def _range(low: float, high: float) -> tuple[str, str]:
    """A sparkline's range, short: 4 significant digits, or as many as tell the two apart
    (a counter's 183402.7 to 183403.4)."""
    for digits in range(4, 16):
        texts = (f"{low:.{digits}g}", f"{high:.{digits}g}")
        if low == high or texts[0] != texts[1]:
            break
    return format_number(float(texts[0])), format_number(float(texts[1]))


def _breakable(name: str) -> str:
    """Escaped, with a line-break opportunity after each `_`: long names wrap at words."""
    return escape(name).replace("_", "_<wbr>")


def display_value(value: Value | None, unit: str | None) -> str:
    """A value as a person reads it: `12.5 °C`, `yes`, text as written (no quotes)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    symbol = display_unit(unit) if unit else ""
    number = format_number(value)
    return f"{number} {symbol}" if symbol else number


def status_page_parts(
    cycle: Cycle | None,
    settings: Settings,
    history: DaemonHistory,
    trends: Trends,
    now: float,
    page: int = 1,
    sinks: Sequence[SinkStats] = (),
) -> Iterator[str]:
    """The page for the latest cycle in pieces, one per device card (`now`, wall clock, makes
    the ages): the server yields to the event loop between them, so a page of many devices
    never holds up a cycle. `page` is 1-based; PAGE_SIZE devices a page, and a page past the
    end shows the last."""
    refresh = max(1, math.ceil(settings.interval))
    yield (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<noscript><meta http-equiv="refresh" content="{refresh}"></noscript>'
        f"<title>sensorpoll</title><style>{_STYLE}</style></head><body>\n"
        '<header class="top"><h1>sensorpoll</h1><nav><a href="metrics">metrics</a>'
        '<a href="api/v1/cycle">cycle JSON</a><a href="healthz">health</a></nav>\n'
    )
    script = f"<script>{_SCRIPT % (refresh * 1000)}</script>\n"
    if cycle is None:
        yield '<p class="summary" id="summary">No cycle has completed yet.</p></header>\n'
        yield '<main id="devices"></main>\n' + script + "</body></html>\n"
        return
    pages = max(1, math.ceil(len(cycle.devices) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = cycle.devices[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    summary = _summary(cycle, settings, now, page, pages, sinks)
    yield summary + '</header>\n<main id="devices">\n'
    configs = {device.name: device for device in settings.devices}
    for result in shown:
        yield _device_card(result, configs.get(result.device), history, trends, now)
    yield "</main>\n" + script + "</body></html>\n"


def _summary(
    cycle: Cycle, settings: Settings, now: float, page: int, pages: int, sinks: Sequence[SinkStats]
) -> str:
    down = [result.device for result in cycle.devices if not result.ok]
    down_text = f'<span class="bad">{len(down)} down</span>' if down else "0 down"
    zone = time.strftime("%Z", time.localtime(cycle.started))
    text = (
        f'<div id="summary" data-cycle="{cycle.number}"><p class="summary">'
        f"<b>{len(cycle.devices)} device{'s' * (len(cycle.devices) != 1)}</b>: "
        f"{len(cycle.devices) - len(down)} up, {down_text}"
        f" · cycle {cycle.number} at {format_clock(cycle.started, now)} {escape(zone)},"
        f" {cycle.duration_s * 1000:.1f} ms · every {settings.interval:g} s"
        f" · {cycle.overruns_total} overrun{'s' * (cycle.overruns_total != 1)}</p>"
    )
    if pages > 1:
        where = {r.device: i // PAGE_SIZE + 1 for i, r in enumerate(cycle.devices)}
        links = ", ".join(
            f'<a href="?page={where[name]}#device-{escape(name)}">{escape(name)}</a>'
            for name in down[:DOWN_LINKS]
        )
        more = f" and {len(down) - DOWN_LINKS} more" if len(down) > DOWN_LINKS else ""
        if down:
            text += f'<p class="summary">down: {links}{more}</p>'
        first = (page - 1) * PAGE_SIZE + 1
        last = min(page * PAGE_SIZE, len(cycle.devices))
        previous = f'<a href="?page={page - 1}">‹ previous</a>' if page > 1 else ""
        following = f'<a href="?page={page + 1}">next ›</a>' if page < pages else ""
        text += (
            f'<p class="summary pages">devices {first}–{last} of {len(cycle.devices)}, '
            f"page {page} of {pages} {previous} {following}</p>"
        )
    for sink in sinks:
        text += _sink_line(sink)
    return text + "</div>"


def _sink_line(sink: SinkStats) -> str:
    """A sink's health: whether its broker is connected, and what is queued or was dropped."""
    parts = []
    if sink.connected is not None:
        parts.append("connected" if sink.connected else '<span class="bad">reconnecting</span>')
    if sink.queued is not None and (queued := sink.queued()):
        parts.append(f"{queued} queued")
    dropped = f"{sink.dropped} dropped"
    parts.append(f'<span class="bad">{dropped}</span>' if sink.dropped else dropped)
    return f'<p class="summary sink">{escape(sink.label)}: {", ".join(parts)}</p>'


def _device_card(
    result: DeviceResult,
    config: DeviceConfig | None,
    history: DaemonHistory,
    trends: Trends,
    now: float,
) -> str:
    name = escape(result.device)
    status = "up" if result.ok else "down"
    labels = config.labels if config is not None else {}
    chips = "".join(f"<li>{escape(k)} {escape(v)}</li>" for k, v in labels.items())
    chips_html = f'<ul class="labels">{chips}</ul>' if chips else ""
    fields = config.fields if config is not None else ()
    rows = []
    known = set()
    for field in fields:
        known.add(field.name)
        value = result.values.get(field.name)  # none when the read failed; some if partial
        trend = (
            "" if field.kind != "number" else _trend(result.device, field.name, field.unit, trends)
        )
        read_at = result.carried.get(field.name)  # a slower rate's value, read earlier
        note = f"carried: read {format_age(now - read_at)}" if read_at is not None else ""
        rows.append(_field_row(field.name, value, field.unit, trend, note))
    rows += [  # values of fields the config does not name (a reload in between)
        _field_row(n, v, None, "") for n, v in result.values.items() if n not in known
    ]
    past = history.devices.get(result.device)
    return (
        f'<section class="device {status}" id="device-{name}" data-device="{name}" '
        f'data-status="{status}">'
        f'<h2><span class="name">{_breakable(result.device)}</span>'
        f'<span class="badge">{status.upper()}</span>'
        f"{chips_html}</h2>\n"
        f'<table class="fields">{"".join(rows)}</table>\n'
        f"{_meta(result, past, now)}{_error(result, past, now)}</section>\n"
    )


def _field_row(name: str, value: Value | None, unit: str | None, trend: str, note: str = "") -> str:
    text = escape(display_value(value, unit))
    kind = " text" if isinstance(value, str) else ""
    if value is None:
        text, kind = '<span class="none">—</span>', ""
    title = f' title="{escape(note)}"' if note else ""
    return (
        f'<tr data-field="{escape(name)}"><th>{_breakable(name)}</th>'
        f'<td class="value{kind}"{title}>{text}</td><td class="trend">{trend}</td></tr>'
    )


def _trend(device: str, name: str, unit: str | None, trends: Trends) -> str:
    series = trends.series(device, name)
    if series is None:
        return ""
    values = series.values
    low, high = _range(min(values), max(values))
    symbol = display_unit(unit) if unit else ""
    suffix = f" {symbol}" if symbol else ""
    label = f"{name}, last {WINDOW / 60:g} min: {low} to {high}{suffix}"
    spread = (low if low == high else f"{low} – {high}") + suffix
    return sparkline(series, WINDOW, trends.slot_s, label) + (
        f'<span class="range">{escape(spread)}</span>'
    )


def _meta(result: DeviceResult, past: DeviceHistory | None, now: float) -> str:
    success = past.last_success if past is not None else None
    when = "never" if success is None else f"{format_clock(success, now)}"
    age = "" if success is None else f" ({format_age(now - success)})"
    read = f" · read {result.duration_s * 1000:.1f} ms" if result.attempted else " · in backoff"
    return f'<p class="meta">last success {escape(when)}{escape(age)}{read}</p>'


def _error(result: DeviceResult, past: DeviceHistory | None, now: float) -> str:
    if past is None or past.last_error is None:
        return ""
    when = ""
    if past.last_error_at is not None:
        when = (
            f" at {format_clock(past.last_error_at, now)} ({format_age(now - past.last_error_at)})"
        )
    kind = "error" if not result.ok else "error past"
    prefix = "" if not result.ok else "last error: "
    return f'<p class="{kind}">{prefix}{escape(past.last_error)}{escape(when)}</p>'
