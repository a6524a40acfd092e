"""Starting under systemd: what an operator reads in the journal when a start goes wrong, and
log lines without timestamps when stderr is the journal (PRODUCT.md, systemd)."""

from __future__ import annotations

import os
import re
import signal
import socket
from pathlib import Path

from tests.daemon.harness import Daemon, NotifySocket, simulated


def test_taken_http_port_exits_1_with_one_line_and_no_traceback(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.write_config([simulated("a")])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", daemon.port))
        squatter.listen()
        daemon.start({"NOTIFY_SOCKET": notify.env_value})
        assert daemon.wait(timeout=10) == 1  # not 78: systemd retries, the port may free up
    assert "Traceback" not in daemon.stderr
    assert re.search(r"cannot start: .*address already in use", daemon.stderr), daemon.stderr
    assert not [m for m in notify.collect(0.1) if "READY=1" in m]


def test_sink_that_cannot_be_opened_is_logged_and_polling_goes_on(
    daemon: Daemon, notify: NotifySocket, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    sink = not_a_directory / "readings.jsonl"
    daemon.write_config([simulated("a")], sink=sink)
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    notify.wait_for(lambda m: "1 up" in m.fields.get("STATUS", ""))
    assert daemon.get("/api/v1/cycle")["devices"][0]["ok"]
    assert f"opening {sink} failed" in daemon.stderr


def log_lines_when(daemon: Daemon, notify: NotifySocket, journal_stream: str) -> list[str]:
    daemon.write_config([simulated("a")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value, "JOURNAL_STREAM": journal_stream})
    notify.wait_for("READY=1")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=3) == 0
    return [line for line in daemon.stderr.splitlines() if "polling 1 devices" in line]


def test_log_lines_have_no_timestamp_when_stderr_is_the_journal(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.stderr_path.touch()  # the harness reopens it in place: same device and inode
    stat = os.stat(daemon.stderr_path)
    lines = log_lines_when(daemon, notify, f"{stat.st_dev}:{stat.st_ino}")
    assert lines == ["INFO sensorpoll: polling 1 devices every 0.2s"]


def test_log_lines_keep_timestamps_when_journal_stream_is_inherited_but_not_stderr(
    daemon: Daemon, notify: NotifySocket
) -> None:
    lines = log_lines_when(daemon, notify, "1:1")
    assert len(lines) == 1
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lines[0]), lines
