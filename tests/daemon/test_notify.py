"""The sd_notify protocol as systemd sees it: a real `sensorpoll run` talking to a notify socket
the test binds (the unit's promises: docs/deploy.md, section 3)."""

from __future__ import annotations

import signal
import socket
import time
from itertools import pairwise
from pathlib import Path

from tests.daemon.harness import INVALID_CONFIG, Daemon, NotifySocket, simulated


def test_ready_is_sent_once_http_listens(daemon: Daemon, notify: NotifySocket) -> None:
    daemon.write_config([simulated("a", latency="10ms")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    # No retry: systemd starts dependent units (and operators curl) the moment READY arrives.
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=2):
        pass
    daemon.wait_for_cycle(lambda c: c["devices"][0]["ok"])


def test_ready_is_sent_exactly_once_at_startup(daemon: Daemon, notify: NotifySocket) -> None:
    daemon.write_config([simulated("a")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    later = notify.collect(0.8)
    assert not [m for m in later if "READY=1" in m]


def test_status_summarises_devices_up_and_last_cycle_time(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.write_config(
        [
            simulated("good", latency="10ms"),
            simulated("also_good"),
            simulated("broken", faults={"error_rate": 1}),
        ]
    )
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    message = notify.wait_for(lambda m: " up, " in m.fields.get("STATUS", ""))
    status = message.fields["STATUS"]
    assert status.startswith("3 devices, 2 up, last cycle "), status
    assert status.endswith(" ms"), status


def test_watchdog_pings_at_least_every_half_period_even_during_slow_reads(
    daemon: Daemon, notify: NotifySocket
) -> None:
    # Reads take 450 ms of every 600 ms cycle, longer than the 300 ms ping period: pings must
    # come from the loop while it waits for reads too, not only between cycles.
    watchdog_usec = 600_000
    daemon.write_config([simulated("slow", latency="450ms")], interval="600ms")
    daemon.start({"NOTIFY_SOCKET": notify.env_value, "WATCHDOG_USEC": str(watchdog_usec)})
    notify.wait_for("READY=1")
    pings = [m.at for m in notify.collect(2.4) if "WATCHDOG=1" in m]
    half = watchdog_usec / 1e6 / 2
    assert len(pings) >= 2.4 / half - 2
    gaps = [b - a for a, b in pairwise(pings)]
    # Slack for scheduling on a loaded machine; a ping late by a whole read (450 ms) is not.
    assert max(gaps) <= half + 0.15, gaps


def test_watchdog_is_left_alone_when_meant_for_another_process(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.write_config([simulated("a")])
    env = {"NOTIFY_SOCKET": notify.env_value, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    daemon.start(env)
    notify.wait_for("READY=1")
    assert not [m for m in notify.collect(0.6) if "WATCHDOG=1" in m]


def test_reload_is_announced_with_monotonic_usec_then_ready(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.write_config([simulated("a")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    daemon.signal(signal.SIGHUP)
    reloading = notify.wait_for("RELOADING=1")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    # systemd matches MONOTONIC_USEC against the time it sent SIGHUP: same clock, in between.
    assert before <= int(reloading.fields["MONOTONIC_USEC"]) <= after
    notify.wait_for("READY=1", timeout=3)


def test_sigterm_sends_stopping_and_exits_0_within_3s_despite_a_hung_device(
    daemon: Daemon, notify: NotifySocket
) -> None:
    # The hung device holds each 2 s cycle for 1.9 s: SIGTERM lands in the middle of one.
    daemon.write_config(
        [simulated("ok"), simulated("hung", timeout="1900ms", faults={"timeout_rate": 1})],
        interval="2s",
    )
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    notify.wait_for(lambda m: " up, " in m.fields.get("STATUS", ""))
    time.sleep(0.3)  # into the next cycle, which the hung device holds for another 1.6 s
    sent = time.monotonic()
    daemon.signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1", timeout=3)
    assert daemon.wait(timeout=3 - (time.monotonic() - sent)) == 0
    assert "Traceback" not in daemon.stderr


def test_sigterm_leaves_the_jsonl_sink_complete(daemon: Daemon, notify: NotifySocket) -> None:
    daemon.write_config([simulated("a")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    daemon.wait_for_cycle(lambda c: c["cycle"] >= 2)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=3) == 0
    text = daemon.sink.read_text()
    assert text.endswith("\n"), "last line cut short"
    numbers = [c["cycle"] for c in daemon.cycles()]
    assert numbers == list(range(1, len(numbers) + 1))


def test_sigint_exits_0(daemon: Daemon, notify: NotifySocket) -> None:
    daemon.write_config([simulated("a")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    daemon.signal(signal.SIGINT)
    assert daemon.wait(timeout=3) == 0
    assert "Traceback" not in daemon.stderr


def test_abstract_notify_socket_is_used(daemon: Daemon, tmp_path: Path) -> None:
    abstract = NotifySocket(tmp_path, abstract=True)
    try:
        assert abstract.env_value.startswith("@")
        daemon.write_config([simulated("a")])
        daemon.start({"NOTIFY_SOCKET": abstract.env_value})
        abstract.wait_for("READY=1")
        daemon.signal(signal.SIGTERM)
        abstract.wait_for("STOPPING=1", timeout=3)
        assert daemon.wait(timeout=3) == 0
    finally:
        abstract.close()


def test_config_error_at_start_exits_78_without_traceback_or_ready(
    daemon: Daemon, notify: NotifySocket
) -> None:
    daemon.write_raw_config(INVALID_CONFIG)
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    assert daemon.wait(timeout=10) == 78
    assert "Traceback" not in daemon.stderr
    assert f"{daemon.config}:6: devices[0].colour: unknown key" in daemon.stderr
    assert not [m for m in notify.collect(0.1) if "READY=1" in m]
