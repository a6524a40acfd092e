"""Logging for journald in-process: detection by device:inode, one priority per line."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sensorpoll.daemon.journal import JournalFormatter, stderr_is_journal


def test_journal_stream_counts_only_when_it_names_this_stderr(tmp_path: Path) -> None:
    with (tmp_path / "stream").open("w") as stream:
        stat = os.fstat(stream.fileno())
        matching = {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        assert stderr_is_journal(matching, stream.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": "8:1234"}, stream.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, stream.fileno())
        assert not stderr_is_journal({}, stream.fileno())


def test_every_line_of_a_multi_line_record_carries_its_priority() -> None:
    record = logging.LogRecord(
        "sensorpoll", logging.ERROR, __file__, 1, "reload refused:\n%s", ("a.yaml:3: x",), None
    )
    assert JournalFormatter().format(record).split("\n") == [
        "<3>ERROR sensorpoll: reload refused:",
        "<3>a.yaml:3: x",
    ]
