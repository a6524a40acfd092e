"""The jsonl data log: each cycle appended as one whole JSON line, reopened on SIGHUP.

Whatever happens to the disk, every line of the file parses: a line that cannot be written
whole is taken back, and a torn last line left by a crash is set apart when the file opens.
Reopening makes logrotate work: it moves the file away, SIGHUP, the next line starts a new one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sensorpoll.config.schema import JsonlSinkSettings, Settings
from sensorpoll.daemon.cycle import Cycle
from sensorpoll.export.cyclejson import cycle_to_json_bytes
from sensorpoll.export.sinkmetrics import SinkStats

log = logging.getLogger(__name__)

_CHUNK = 1 << 16  # bytes read at a time when looking for the last line's start


class JsonlSink:
    """Appends the cycle JSON of every cycle to one file.

    Written with plain `os.write` on an O_APPEND descriptor, no buffer in between: a failed
    write leaves nothing behind to be flushed again on close, and the sink knows exactly where
    the line it could not finish began.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = JsonlSinkSettings(type="jsonl", path=path).label
        self.stats = SinkStats(self.label)
        self._fd: int | None = None
        self._problem: tuple[str, int | None] | None = None  # the failure last logged
        self._dropped_since = 0  # lines dropped since it started failing

    @property
    def set_apart_path(self) -> Path:
        """Where torn last lines go: next to the file, so nothing of the log is lost silently."""
        return self.path.with_name(self.path.name + ".torn")

    async def start(self) -> None:
        # A file that cannot be opened now (full disk, a path outside the unit's writable
        # StateDirectory) is logged and retried every cycle, as a failed write is: the data log
        # never stops polling.
        try:
            self._open()
        except OSError as exc:
            self._failed("opening", exc)

    def publish(self, cycle: Cycle) -> None:
        # measurements, not copies: values carried from an earlier read are left out
        line = cycle_to_json_bytes(cycle, measurements_only=True) + b"\n"
        action = "opening"
        try:
            if self._fd is None:
                self._open()
            assert self._fd is not None
            action = "writing"
            self._append(self._fd, line)
        except OSError as exc:  # a full disk must not stop polling: count, log on change
            self.stats.dropped += 1
            self._dropped_since += 1
            self._failed(action, exc)
            return
        self.stats.published += 1
        if self._problem is not None:
            dropped = self._dropped_since
            log.info(
                "writing %s works again; %d line%s dropped",
                self.path,
                dropped,
                " was" if dropped == 1 else "s were",
            )
            self._problem, self._dropped_since = None, 0

    async def reopen(self) -> None:
        self._close()
        self._open()

    async def reconfigure(self, settings: Settings) -> None:
        pass  # the sink set is managed by Sinks

    async def aclose(self) -> None:
        self._close()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            self._set_apart_torn_end(fd)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd

    def _append(self, fd: int, line: bytes) -> None:
        start = os.fstat(fd).st_size  # the one writer: where this line begins
        written = 0
        try:
            while written < len(line):
                written += os.write(fd, line[written:])
        except OSError:
            if written:  # a part of the line went out: take it back, or the next is glued on
                self._take_back(fd, start)
            raise

    def _take_back(self, fd: int, size: int) -> None:
        try:
            os.ftruncate(fd, size)  # shrinking needs no space, even on a full disk
        except OSError as exc:
            # The fragment stays; reopening sets it apart before the next line is written.
            log.debug("truncating %s back to %d bytes failed: %s", self.path, size, exc)
            self._close()

    def _set_apart_torn_end(self, fd: int) -> None:
        """A last line without its newline (a crash mid-write) is moved to `set_apart_path`
        and cut off, so the next line starts on a line of its own."""
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        cut = _last_line_start(fd, size)
        torn = size - cut
        try:
            with self.set_apart_path.open("ab") as apart:
                for offset in range(cut, size, _CHUNK):
                    apart.write(os.pread(fd, min(_CHUNK, size - offset), offset))
                apart.write(b"\n")
        except OSError as exc:
            log.warning(
                "%s ended in a torn line of %d bytes; dropping it (setting it apart in %s "
                "failed: %s)",
                self.path,
                torn,
                self.set_apart_path,
                exc,
            )
        else:
            log.warning(
                "%s ended in a torn line of %d bytes (a crash or a full disk while writing); "
                "moved it to %s",
                self.path,
                torn,
                self.set_apart_path,
            )
        os.ftruncate(fd, cut)

    def _failed(self, action: str, exc: OSError) -> None:
        problem = (action, exc.errno)
        if problem != self._problem:  # log on change: a full disk must not flood the journal
            log.error("%s %s failed: %s", action, self.path, exc.strerror or exc)
            self._problem = problem

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError as exc:
                log.error("closing %s failed: %s", self.path, exc)


def _last_line_start(fd: int, size: int) -> int:
    """The offset just after the last newline before `size` (0 if there is none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline != -1:
            return start + newline + 1
        end = start
    return 0
