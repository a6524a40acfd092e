"""The exposition of one cycle, rendered once when the cycle finishes, in every form a scrape
may ask for: text or OpenMetrics, plain or gzip. Scrapes are served these bytes as they are.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.export.daemonmetrics import (
    DaemonHistory,
    render_daemon_metrics,
    render_reload_metrics,
)
from sensorpoll.export.readings import FamilyText, ReadingPlan
from sensorpoll.export.textformat import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE

CONTENT_TYPE = TEXT_CONTENT_TYPE
# Level 1: several times faster than the default 9 and, on text this repetitive, nearly as small.
GZIP_LEVEL = 1


@dataclass(eq=False)
class Exposition:
    """One cycle's metrics. The text form is made eagerly; OpenMetrics and gzip on first request,
    at most once each, from the families captured at render time (never from newer state)."""

    cycle: int
    families: tuple[FamilyText, ...]
    text: bytes
    _forms: dict[tuple[bool, bool], bytes] = field(default_factory=dict, repr=False)

    def body(self, *, openmetrics: bool = False, gzipped: bool = False) -> bytes:
        key = (openmetrics, gzipped)
        body = self._forms.get(key)
        if body is None:
            if gzipped:
                plain = self.body(openmetrics=openmetrics)
                body = gzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0)
            elif openmetrics:
                parts = [part for f in self.families for part in (f.om_header, f.samples)]
                body = b"".join([*parts, b"# EOF\n"])
            else:
                body = self.text
            self._forms[key] = body
        return body

    @staticmethod
    def content_type(*, openmetrics: bool) -> str:
        return OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE


def render_exposition(
    cycle: Cycle, plan: ReadingPlan, history: DaemonHistory, last_reload: LastReload
) -> Exposition:
    """Readings of the devices that succeeded, then sensorpoll's own metrics, the reload's last."""
    families = (
        *plan.render(cycle),
        *render_daemon_metrics(cycle, history),
        *render_reload_metrics(last_reload),
    )
    return _exposition(cycle.number, families)


def with_reload_metrics(exposition: Exposition, last_reload: LastReload) -> Exposition:
    """The same cycle's exposition with the reload metrics of now: a reload's outcome is served
    at once, not from the next cycle on (which may be an hour away)."""
    kept = exposition.families[: -len(render_reload_metrics(last_reload))]
    return _exposition(exposition.cycle, (*kept, *render_reload_metrics(last_reload)))


def _exposition(cycle: int, families: tuple[FamilyText, ...]) -> Exposition:
    text = b"".join([part for f in families for part in (f.text_header, f.samples)])
    return Exposition(cycle, families, text)
