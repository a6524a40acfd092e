"""Starting under systemd: what an operator reads in the journal when a start goes wrong, and
log lines without timestamps when stderr is the journal (docs/deploy.md)."""

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


def journal_lines(daemon: Daemon, notify: NotifySocket, journal_stream: str) -> list[str]:
    """The daemon's stderr with JOURNAL_STREAM set, running a good and a failing device."""
    daemon.write_config([simulated("good"), simulated("bad", faults={"error_rate": 1})])
    daemon.start({"NOTIFY_SOCKET": notify.env_value, "JOURNAL_STREAM": journal_stream})
    notify.wait_for("READY=1")
    notify.wait_for(lambda m: "1 up" in m.fields.get("STATUS", ""))
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=3) == 0
    return daemon.stderr.splitlines()


def test_log_lines_carry_a_priority_and_no_timestamp_when_stderr_is_the_journal(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.stderr_path.touch()  # the harness reopens it in place: same device and inode
    stat = os.stat(daemon.stderr_path)
    lines = journal_lines(daemon, notify, f"{stat.st_dev}:{stat.st_ino}")
    # journald turns <6> and <4> into the entry's priority (journalctl -p warning)
    assert "<6>INFO sensorpoll: polling 2 devices every 0.2s" in lines
    assert "<4>WARNING sensorpoll.poll: device bad is down: io: simulated fault" in lines


def test_log_lines_keep_timestamps_when_journal_stream_is_inherited_but_not_stderr(
    daemon: Daemon, notify: NotifySocket
) -> None:
    lines = journal_lines(daemon, notify, "1:1")
    polling = [line for line in lines if "polling 2 devices" in line]
    assert len(polling) == 1
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO sensorpoll: ", polling[0])
    assert not [line for line in lines if line.startswith("<")]
