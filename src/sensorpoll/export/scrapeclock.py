"""When `/metrics` will next be scraped, from when it was: so that the exposition a scrape will
want is rendered between cycles, not by the scrape.

Rendered by a scrape that lands mid-cycle, the exposition of 10,000 devices (about 25 ms of
CPU) holds up the reads still starting or ending (bench/cycle.py, part 4). Rendering every
cycle instead would cost that for cycles nobody scrapes (a 15 s scrape of a 1 s interval). A
scraper such as Prometheus keeps a steady interval, so the next scrape is the last one plus
the last gap between two; a scraper that misses more than two of its own gaps has stopped.
"""

from __future__ import annotations

import math

STOPPED_AFTER = 2.0  # gaps without a scrape after which the scraper counts as gone


class ScrapeClock:
    """The loop times of the last two scrapes, and the form (OpenMetrics, gzip) last asked."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.gap: float | None = None
        self.form = (False, False)

    def scraped(self, now: float, *, openmetrics: bool, gzipped: bool) -> None:
        if self.last is not None and now > self.last:
            self.gap = now - self.last
        self.last = now
        self.form = (openmetrics, gzipped)

    def expected_within(self, now: float, span: float) -> bool:
        """Whether a scrape is due in the `span` seconds from loop time `now`."""
        if self.last is None or self.gap is None:
            return False
        # forecast scrapes that passed unseen (one due right now has not passed)
        # (a billionth of a gap's tolerance: `now` exactly on one, give or take rounding)
        missed = max(0, math.ceil((now - self.last) / self.gap - 1e-9) - 1)
        if missed > STOPPED_AFTER:
            return False
        due = self.last + (missed + 1) * self.gap
        return due <= now + span
