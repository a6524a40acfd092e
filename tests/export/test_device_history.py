"""Device health over many cycles: a device's last success and read duration, kept from the
cycle that read it when later cycles fail it, skip it in backoff or only carry its values."""

from __future__ import annotations

import random

from prometheus_client.parser import text_string_to_metric_families as parse_text

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.daemonmetrics import DaemonHistory
from sensorpoll.export.exposition import render_exposition
from sensorpoll.export.readings import ReadingPlan
from sensorpoll.export.statuspage import status_page_parts
from sensorpoll.export.trends import Trends
from tests.export.helpers import settings_from

NAMES = ("a", "b", "c", "d")
CONFIG = "interval: 1s\ndevices:\n" + "".join(
    f"  - {{name: {name}, driver: simulated, fields: [{{name: t, value: 1}}]}}\n" for name in NAMES
)
DURATION = "sensorpoll_device_read_duration_seconds"
SUCCESS = "sensorpoll_device_last_success_timestamp_seconds"


def outcome(name: str, kind: str, duration: float) -> DeviceResult:
    if kind == "read":
        return DeviceResult(name, True, None, duration, {"t": duration})
    if kind == "carried":
        return DeviceResult(name, True, None, 0.0, {"t": 1.0}, attempted=False, carried={"t": 1.0})
    if kind == "failed":
        return DeviceResult(name, False, "timeout", duration, {}, "no answer")
    return DeviceResult(name, False, "timeout", 0.0, {}, "in backoff", attempted=False)


def read_by_all(duration: float) -> Cycle:
    """Cycle 1, at 1_800_000_001 s: every device read in `duration` seconds."""
    return Cycle(1, 1_800_000_001.0, 1.0, 0.1, tuple(outcome(n, "read", duration) for n in NAMES))


def random_cycles(seed: int, count: int) -> list[Cycle]:
    rnd = random.Random(seed)
    cycles = []
    for number in range(1, count + 1):
        names = list(NAMES)
        if rnd.random() < 0.2:
            rnd.shuffle(names)
        if rnd.random() < 0.1:
            names.pop()
        kinds = ("read", "read", "carried", "failed", "backoff")
        results = tuple(outcome(n, rnd.choice(kinds), rnd.uniform(0.001, 0.9)) for n in names)
        cycles.append(Cycle(number, 1_800_000_000.0 + number * 1.5, float(number), 0.9, results))
    return cycles


def expected(cycles: list[Cycle]) -> dict[str, dict[str, float]]:
    """The reference: the latest read attempted, and the latest successful one, of each device
    in the latest cycle."""
    durations: dict[str, float] = {}
    successes: dict[str, float] = {}
    for cycle in cycles:
        for result in cycle.devices:
            if result.attempted:
                durations[result.device] = result.duration_s
                if result.ok:
                    successes[result.device] = cycle.started + result.duration_s
    shown = {result.device for result in cycles[-1].devices}
    return {
        DURATION: {name: took for name, took in durations.items() if name in shown},
        SUCCESS: {name: when for name, when in successes.items() if name in shown},
    }


def exported(text: bytes) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {DURATION: {}, SUCCESS: {}}
    for family in parse_text(text.decode()):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name][sample.labels["device"]] = sample.value
    return found


def test_read_duration_and_last_success_are_those_of_the_latest_reads_over_any_sequence() -> None:
    settings = settings_from(CONFIG)
    for seed in range(20):
        plan, history = ReadingPlan(settings), DaemonHistory(settings)
        cycles = random_cycles(seed, 30)
        for seen, cycle in enumerate(cycles, 1):
            history.observe(cycle)
            text = render_exposition(cycle, plan, history).text
            assert exported(text) == expected(cycles[:seen]), (seed, seen)


def test_a_device_failing_after_a_read_keeps_that_read_s_time_and_duration() -> None:
    settings = settings_from(CONFIG)
    history = DaemonHistory(settings)
    read = read_by_all(0.25)
    failed = Cycle(2, 1_800_000_002.0, 2.0, 0.1, (outcome("a", "backoff", 0.0), *read.devices[1:]))
    history.observe(read)
    history.observe(failed)
    past = history.devices["a"]
    assert (past.last_success, past.read_duration) == (1_800_000_001.25, 0.25)


def test_the_history_of_a_device_read_in_the_latest_cycle_is_that_cycle_s() -> None:
    settings = settings_from(CONFIG)
    history = DaemonHistory(settings)
    read = read_by_all(0.5)
    history.observe(read)
    past = history.devices["d"]
    assert (past.last_success, past.read_duration) == (1_800_000_001.5, 0.5)


def test_a_reload_keeps_the_last_success_of_the_cycle_before_it() -> None:
    settings = settings_from(CONFIG)
    history = DaemonHistory(settings)
    read = read_by_all(0.5)
    history.observe(read)
    history.configure(settings_from(CONFIG.replace("name: d,", "name: e,")))
    history.observe(Cycle(2, 1_800_000_002.0, 2.0, 0.1, (outcome("a", "failed", 0.75),)))
    assert history.devices["a"].last_success == 1_800_000_001.5
    assert history.devices["a"].read_duration == 0.75
    assert history.devices["b"].last_success == 1_800_000_001.5
    assert "d" not in history.devices


def test_the_status_page_shows_the_last_success_before_a_failure() -> None:
    settings = settings_from(CONFIG)
    history = DaemonHistory(settings)
    read = read_by_all(0.5)
    failed = Cycle(2, 1_800_000_031.0, 31.0, 0.1, (outcome("a", "failed", 0.5), *read.devices[1:]))
    history.observe(read)
    history.observe(failed)
    page = "".join(status_page_parts(failed, settings, history, Trends(settings), 1_800_000_031.5))
    card = page.split('data-device="a"')[1].split("</section>")[0]
    assert "(30.0 s ago)" in card


def test_error_counts_are_the_failed_reads_over_any_sequence() -> None:
    settings = settings_from(CONFIG)
    for seed in range(20):
        plan, history = ReadingPlan(settings), DaemonHistory(settings)
        cycles = random_cycles(seed, 30)
        counted = dict.fromkeys(NAMES, 0)
        for cycle in cycles:
            history.observe(cycle)
            for result in cycle.devices:
                counted[result.device] += result.attempted and not result.ok
            text = render_exposition(cycle, plan, history).text.decode()
            errors = {
                sample.labels["device"]: sample.value
                for family in parse_text(text)
                for sample in family.samples
                if sample.name == "sensorpoll_device_errors_total"
            }
            shown = {result.device for result in cycle.devices}
            assert errors == {n: c for n, c in counted.items() if n in shown}, (seed, cycle.number)
