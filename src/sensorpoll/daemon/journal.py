"""Logging for journald: whether stderr is the journal, and a format for each case.

journald stamps every line itself and reads a `<N>` syslog priority prefix (SyslogLevelPrefix=,
on by default), so under it lines carry a priority and no timestamp; elsewhere the reverse.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
ERR_PREFIX = "<3>"  # a line journald stores at priority err


def stderr_is_journal(env: Mapping[str, str] | None = None, fd: int | None = None) -> bool:
    """Whether stderr is connected to journald. systemd sets JOURNAL_STREAM to that stream's
    device:inode; a variable inherited by a process whose stderr goes elsewhere (a shell in a
    desktop session, a redirect) does not count (systemd.exec(5))."""
    env = os.environ if env is None else env
    try:
        device, inode = (int(part) for part in env["JOURNAL_STREAM"].split(":"))
        stat = os.fstat(sys.stderr.fileno() if fd is None else fd)
    except (KeyError, ValueError, OSError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: err 3, warning 4, info 6, debug 7."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalFormatter(logging.Formatter):
    """Prefixes every line of a record with its priority: journald stores each line of a
    multi-line message (a refused reload's problems, a traceback) as an entry of its own."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def log_formatter(journal: bool) -> logging.Formatter:
    return JournalFormatter() if journal else logging.Formatter(PLAIN_FORMAT)
