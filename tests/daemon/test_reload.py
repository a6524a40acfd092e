"""Reload on SIGHUP (docs/deploy.md): a valid config is swapped in between cycles
without a restart, an invalid one is refused while the old one keeps polling, and devices the
reload does not touch keep their state. Observed through the jsonl sink and /api/v1/cycle."""

from __future__ import annotations

import json
import signal
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


def polling_one_device(daemon: Daemon, notify: NotifySocket) -> None:
    """A daemon polling one simulated device every 100 ms, two cycles in."""
    daemon.write_config([simulated("a")], interval="100ms")
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    daemon.wait_for_cycle(lambda c: c["cycle"] >= 2)


def test_an_alias_bomb_on_reload_is_refused_while_polling_and_http_carry_on(
    daemon: Daemon, notify: NotifySocket
) -> None:
    polling_one_device(daemon, notify)
    laughs = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    laughs += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = "devices:\n  - name: a\n    driver: simulated\n    fields: [{name: value, value: 1}]\n"
    daemon.config.write_text(bomb + "    labels:\n" + "".join(f"      {x}\n" for x in laughs))
    reload(daemon, notify)
    assert "reload refused" in daemon.stderr
    assert "(an alias bomb?)" in daemon.stderr
    refused_at = daemon.cycles()[-1]["cycle"]
    assert daemon.get("/api/v1/cycle")["cycle"] >= refused_at - 1  # HTTP answers
    daemon.wait_for_cycle(lambda c: c["cycle"] >= refused_at + 3)  # and polling goes on
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 0


def test_polling_goes_on_while_a_large_reloaded_config_is_read(
    daemon: Daemon, notify: NotifySocket
) -> None:
    polling_one_device(daemon, notify)
    # thousands of devices: validating them takes many cycles' time on any machine
    daemon.write_config([simulated("a")] + [simulated(f"d{i}") for i in range(5000)], "100ms")
    daemon.signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", timeout=5)
    reloading_at = daemon.cycles()[-1]["cycle"]
    notify.wait_for("READY=1", timeout=60)
    cycles = daemon.cycles()
    during = [c for c in cycles if c["cycle"] > reloading_at and len(c["devices"]) == 1]
    after = [c for c in cycles if len(c["devices"]) == 5001]
    assert during, "no cycle ran while the new config was read"
    assert after or daemon.wait_for_cycle(lambda c: len(c["devices"]) == 5001)
