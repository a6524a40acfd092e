"""The exposition of one cycle, rendered once when the cycle finishes, in every form a scrape
may ask for: text or OpenMetrics, plain or gzip. Scrapes are served these bytes as they are.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field

from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.export.daemonmetrics import (
    DaemonHistory,
    render_daemon_metrics,
    render_reload_metrics,
)
from sensorpoll.export.processmetrics import ProcessMetrics
from sensorpoll.export.readings import FamilyText, ReadingPlan
from sensorpoll.export.textformat import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE

CONTENT_TYPE = TEXT_CONTENT_TYPE
# Level 1: several times faster than the default 9 and, on text this repetitive, nearly as small.
GZIP_LEVEL = 1


@dataclass(eq=False)
class Exposition:
    """One cycle's metrics. The text form of sensorpoll's own families is made eagerly;
    OpenMetrics and gzip on first request, at most once each, from the families captured at
    render time (never from newer state). The process metrics join each form when it is
    first asked for: they describe the process at that scrape, and a cycle nobody scrapes
    costs nothing for them."""

    cycle: int  # 0: rendered before the first cycle completed
    families: tuple[FamilyText, ...]
    own_text: bytes
    process: ProcessMetrics | None = None
    _forms: dict[tuple[bool, bool], bytes] = field(default_factory=dict, repr=False)

    @property
    def text(self) -> bytes:
        return self.body()

    def body(self, *, openmetrics: bool = False, gzipped: bool = False) -> bytes:
        key = (openmetrics, gzipped)
        body = self._forms.get(key)
        if body is None:
            if gzipped:
                plain = self.body(openmetrics=openmetrics)
                body = gzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0)
            elif openmetrics:
                parts = [part for f in self.families for part in (f.om_header, f.samples)]
                if self.process is not None:
                    parts.append(self.process.openmetrics())
                body = b"".join([*parts, b"# EOF\n"])
            elif self.process is not None:
                body = self.own_text + self.process.text()
            else:
                body = self.own_text
            self._forms[key] = body
        return body

    @staticmethod
    def content_type(*, openmetrics: bool) -> str:
        return OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE


def render_exposition(
    cycle: Cycle | None,
    plan: ReadingPlan,
    history: DaemonHistory,
    process: ProcessMetrics | None = None,
    extra: Sequence[FamilyText] = (),
    last_reload: LastReload | None = None,
) -> Exposition:
    """Readings of the devices that succeeded, then sensorpoll's own metrics, then `extra`
    (the sinks' metrics), then the last reload's, then the process's. Without a cycle (none
    has completed yet): all but the readings."""
    readings = plan.render(cycle) if cycle is not None else []
    reload = render_reload_metrics(last_reload) if last_reload is not None else []
    families = (*readings, *render_daemon_metrics(cycle, history), *extra, *reload)
    return _exposition(cycle.number if cycle is not None else 0, families, process)


def with_reload_metrics(exposition: Exposition, last_reload: LastReload) -> Exposition:
    """The same cycle's exposition with the reload metrics of now, in place of those it was
    rendered with: a reload's outcome is served at once, not from the next cycle on (which
    may be an hour away)."""
    reload = render_reload_metrics(last_reload)
    kept = exposition.families[: -len(reload)]
    return _exposition(exposition.cycle, (*kept, *reload), exposition.process)


def _exposition(
    cycle: int, families: tuple[FamilyText, ...], process: ProcessMetrics | None
) -> Exposition:
    text = b"".join([part for f in families for part in (f.text_header, f.samples)])
    return Exposition(cycle, families, text, process)
