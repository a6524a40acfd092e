"""The outcome of a reload in /metrics, under Prometheus's own names: `systemctl reload` returns
before the file is read, so this is how an operator sees whether it took."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from tests.daemon.harness import INVALID_CONFIG, Daemon, NotifySocket, reload, simulated

SUCCESSFUL = "sensorpoll_config_last_reload_successful"
TIMESTAMP = "sensorpoll_config_last_reload_success_timestamp_seconds"


def metrics(daemon: Daemon) -> dict[str, float]:
    """The unlabelled samples of /metrics, by name."""
    url = f"http://127.0.0.1:{daemon.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            samples[name] = float(value)
    return samples


def running_one_device(
    daemon: Daemon, notify: NotifySocket, interval: str = "200ms"
) -> dict[str, Any]:
    """Start the daemon with one simulated device; its first cycle once it has run."""
    daemon.write_config([simulated("a")], interval=interval)
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    return daemon.wait_for_cycle(lambda c: c["cycle"] >= 1)


def test_the_start_counts_as_a_successful_load(daemon: Daemon, notify: NotifySocket) -> None:
    before = time.time()
    running_one_device(daemon, notify)
    served = metrics(daemon)
    assert served[SUCCESSFUL] == 1
    assert before <= served[TIMESTAMP] <= time.time()


def test_a_refused_reload_reads_0_and_keeps_the_last_success_time(
    daemon: Daemon, notify: NotifySocket
) -> None:
    running_one_device(daemon, notify)
    started = metrics(daemon)[TIMESTAMP]
    daemon.write_raw_config(INVALID_CONFIG)
    reload(daemon, notify)
    refused = metrics(daemon)
    assert refused[SUCCESSFUL] == 0
    assert refused[TIMESTAMP] == started


def test_a_good_reload_after_a_refused_one_reads_1_with_a_later_time(
    daemon: Daemon, notify: NotifySocket
) -> None:
    running_one_device(daemon, notify)
    daemon.write_raw_config(INVALID_CONFIG)
    reload(daemon, notify)
    refused_at = time.time()
    daemon.write_config([simulated("a"), simulated("b")])
    reload(daemon, notify)
    applied = metrics(daemon)
    assert applied[SUCCESSFUL] == 1
    assert applied[TIMESTAMP] >= refused_at


def test_a_reloads_outcome_is_served_before_the_next_cycle(
    daemon: Daemon, notify: NotifySocket
) -> None:
    # a 5 s interval leaves seconds between the cycle seen and the next one
    first = running_one_device(daemon, notify, interval="5s")
    daemon.write_raw_config(INVALID_CONFIG)
    reload(daemon, notify)
    served = metrics(daemon)
    assert served["sensorpoll_cycles_total"] == first["cycle"], "too slow: a cycle came between"
    assert served[SUCCESSFUL] == 0
