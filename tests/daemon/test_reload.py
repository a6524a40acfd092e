"""Reload on SIGHUP (docs/deploy.md): a valid config is swapped in between cycles
without a restart, an invalid one is refused while the old one keeps polling, and devices the
reload does not touch keep their state. Observed through the jsonl sink and /api/v1/cycle."""

from __future__ import annotations

import json
from typing import Any

from tests.daemon.harness import INVALID_CONFIG, Daemon, NotifySocket, reload, simulated


def names(cycle: dict[str, Any]) -> list[str]:
    return [d["device"] for d in cycle["devices"]]


def device(cycle: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in cycle["devices"] if d["device"] == name)


def test_valid_config_is_applied_without_restart(daemon: Daemon, notify: NotifySocket) -> None:
    daemon.write_config([simulated("kept"), simulated("removed")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    before = daemon.wait_for_cycle(lambda c: c["cycle"] >= 3)
    daemon.write_config([simulated("kept"), simulated("added")])
    reload(daemon, notify)
    after = daemon.wait_for_cycle(lambda c: names(c) == ["kept", "added"])
    assert device(after, "added")["ok"]
    assert daemon.proc is not None
    assert daemon.proc.poll() is None, "the daemon exited instead of reloading"
    numbers = [c["cycle"] for c in daemon.cycles()]
    assert numbers == list(range(1, len(numbers) + 1)), "cycle counter restarted or skipped"
    assert after["cycle"] > before["cycle"]
    served = daemon.get("/api/v1/cycle")
    assert served["cycle"] >= after["cycle"]
    assert names(served) == ["kept", "added"]


def test_invalid_config_is_refused_and_the_old_one_keeps_polling(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.write_config([simulated("a"), simulated("b")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    daemon.write_raw_config(INVALID_CONFIG)
    refused_at = len(daemon.cycles())
    reload(daemon, notify)
    later = daemon.wait_for_cycle(lambda c: c["cycle"] >= refused_at + 3)
    assert names(later) == ["a", "b"]
    assert daemon.proc is not None
    assert daemon.proc.poll() is None
    assert "reload refused" in daemon.stderr
    assert f"{daemon.config}:6: devices[0].colour: unknown key" in daemon.stderr


# A device failing every read (alone on its line) is read on each of its first 4 cycles, then
# every other cycle (poller.CHEAP_RETRY_CYCLES). So of the first 3 cycles after a reload, a
# device that kept its state skips at least one (duration 0), a fresh one none.
FAILING = {"latency": "20ms", "faults": {"error_rate": 1}}


def after_reload_during_backoff(
    daemon: Daemon, notify: NotifySocket, flaky: dict[str, Any]
) -> list[dict[str, Any]]:
    """Reload adding a marker device once `flaky` is in backoff; its first 3 cycles after."""
    daemon.write_config([simulated("flaky", **FAILING)], interval="100ms")
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    daemon.wait_for_cycle(lambda c: c["cycle"] >= 8)
    daemon.write_config([flaky, simulated("marker")], interval="100ms")
    reload(daemon, notify)
    first = daemon.wait_for_cycle(lambda c: "marker" in names(c))["cycle"]
    daemon.wait_for_cycle(lambda c: c["cycle"] >= first + 2)
    return [device(c, "flaky") for c in daemon.cycles() if first <= c["cycle"] < first + 3]


def test_unchanged_device_keeps_its_backoff_across_a_reload(
    daemon: Daemon, notify: NotifySocket
) -> None:
    flaky = after_reload_during_backoff(daemon, notify, simulated("flaky", **FAILING))
    assert [d["duration_s"] for d in flaky].count(0) >= 1, "read every cycle: backoff was reset"
    assert {d["error"] for d in flaky} == {"io"}


def test_changed_device_starts_afresh_after_a_reload(daemon: Daemon, notify: NotifySocket) -> None:
    changed = simulated("flaky", **{**FAILING, "latency": "30ms"})
    flaky = after_reload_during_backoff(daemon, notify, changed)
    assert all(d["duration_s"] > 0 for d in flaky), "a changed device must be rebuilt and read"


def test_sighup_reopens_the_jsonl_sink(daemon: Daemon, notify: NotifySocket) -> None:
    daemon.write_config([simulated("a")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    daemon.wait_for_cycle(lambda c: c["cycle"] >= 2)
    rotated = daemon.sink.with_name("readings.jsonl.1")
    daemon.sink.rename(rotated)  # what logrotate does before its postrotate SIGHUP
    reload(daemon, notify)
    fresh = daemon.wait_for_cycle(lambda c: True)
    last_rotated = json.loads(rotated.read_text().splitlines()[-1])
    assert fresh["cycle"] > last_rotated["cycle"]
