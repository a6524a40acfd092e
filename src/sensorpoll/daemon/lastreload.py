"""What became of the latest config load: the daemon records the start and every SIGHUP here,
and the exposition shows it the way Prometheus shows its own reloads.

`systemctl reload` only sends SIGHUP and returns (systemd 252 has no notify-reload), before the
file is even read, so these two values are how an operator or a script learns the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LastReload:
    """Whether the latest load took, and when a load last did (the start counts as one)."""

    successful: bool
    success_timestamp: float  # seconds since the epoch
    # called after every recorded outcome, changed or not: a scrape must see it at once
    listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @classmethod
    def at_start(cls) -> LastReload:
        """The config the daemon started with was loaded just now."""
        return cls(successful=True, success_timestamp=time.time())

    def succeeded(self) -> None:
        self.successful = True
        self.success_timestamp = time.time()
        self._notify()

    def failed(self) -> None:
        self.successful = False
        self._notify()

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()
