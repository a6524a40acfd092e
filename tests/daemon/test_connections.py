"""Device connections over the daemon's life: opened before polling, kept across a
reload unless the device changed, closed at shutdown, and no misbehaving driver can hold up
the exit. Watched through `driver: recording`, which logs open/read/close per instance."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.daemon.harness import Daemon, NotifySocket


def recording(name: str, events: Path, **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "driver": "recording",
        "events": str(events),
        "fields": [{"name": "value"}],
        **options,
    }


def events_of(events: Path, device: str) -> list[str]:
    """'open', 'read', 'close', ... of one device, each with its driver instance number."""
    return [
        f"{event} {instance}"
        for event, name, instance in (line.split() for line in events.read_text().splitlines())
        if name == device
    ]


def start(daemon: Daemon, notify: NotifySocket, env: dict[str, str], devices: list[Any]) -> None:
    daemon.write_config(devices)
    daemon.start({"NOTIFY_SOCKET": notify.env_value, **env})
    notify.wait_for("READY=1")
    daemon.wait_for_cycle(lambda c: c["cycle"] >= 2)


def stop_cleanly(daemon: Daemon) -> None:
    """SIGTERM, then a clean exit. The bound is only against hanging forever: how long a stop
    may take is the unit's TimeoutStopSec, which the systemd tests hold it to."""
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 0
    assert "Traceback" not in daemon.stderr


def test_shutdown_closes_every_connection(
    daemon: Daemon, notify: NotifySocket, recording_driver_env: dict[str, str], tmp_path: Path
) -> None:
    events = tmp_path / "events"
    start(daemon, notify, recording_driver_env, [recording(n, events) for n in ("a", "b")])
    stop_cleanly(daemon)
    for device in ("a", "b"):
        history = events_of(events, device)
        assert history[0].startswith("open "), history
        assert history[-1].startswith("close "), history
        assert history.count(history[0]) == 1, "opened more than once"


def test_a_device_hanging_while_closing_cannot_delay_the_exit(
    daemon: Daemon, notify: NotifySocket, recording_driver_env: dict[str, str], tmp_path: Path
) -> None:
    events = tmp_path / "events"
    devices = [recording("stuck", events, hang_on_close=True), recording("fine", events)]
    start(daemon, notify, recording_driver_env, devices)
    stop_cleanly(daemon)
    assert events_of(events, "fine")[-1].startswith("close ")


def test_a_read_ignoring_cancellation_cannot_delay_the_exit(
    daemon: Daemon, notify: NotifySocket, recording_driver_env: dict[str, str], tmp_path: Path
) -> None:
    events = tmp_path / "events"
    devices = [recording("deaf", events, ignore_cancellation=True), recording("fine", events)]
    start(daemon, notify, recording_driver_env, devices)
    stop_cleanly(daemon)


def test_reload_keeps_unchanged_connections_closes_removed_and_opens_new_ones(
    daemon: Daemon, notify: NotifySocket, recording_driver_env: dict[str, str], tmp_path: Path
) -> None:
    events = tmp_path / "events"
    start(daemon, notify, recording_driver_env, [recording(n, events) for n in ("kept", "gone")])
    daemon.write_config([recording(n, events) for n in ("kept", "new")])
    daemon.signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", timeout=5)
    notify.wait_for("READY=1", timeout=5)
    first = daemon.wait_for_cycle(lambda c: [d["device"] for d in c["devices"]] == ["kept", "new"])
    assert [d["error"] for d in first["devices"]] == [None, None]  # "new" was opened, then read
    kept = events_of(events, "kept")
    assert {e.split()[0] for e in kept} == {"open", "read"}, "kept device was reconnected"
    assert kept.count(kept[0]) == 1
    assert events_of(events, "gone")[-1].startswith("close ")
    assert events_of(events, "new")[0].startswith("open ")
