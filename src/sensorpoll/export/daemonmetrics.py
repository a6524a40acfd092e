"""sensorpoll's own metrics: device health, errors by reason, cycles and their duration, build,
the outcome of the latest config reload.

Counters outlive a cycle, so `DaemonHistory` accumulates them as cycles are published; the
rendering is a function of that history and the latest cycle (or of the config alone, before
the first cycle has completed).
"""

from __future__ import annotations

import operator
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from itertools import compress
from typing import cast

from sensorpoll import __version__
from sensorpoll.config.schema import Settings
from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.daemon.lastreload import LastReload
from sensorpoll.drivers.registry import driver_class
from sensorpoll.export.readings import FamilyText
from sensorpoll.export.textformat import (
    escape_help,
    escape_label_value,
    format_sample_value,
    format_sample_values,
    labels_text,
)

# Prometheus client defaults: from 5 ms (a few local devices) to 10 s (a long interval).
CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


_DURATION = operator.itemgetter(3)  # DeviceResult fields, by position: C-level over them
_ATTEMPTED = operator.itemgetter(6)
_INVALID = operator.itemgetter(9)


class LatestCycle:
    """The latest observed cycle, for the devices it read successfully: their read duration
    and last success time are that cycle's own, so they are not copied into each device's
    history every cycle (at 10,000 devices that copying was most of what publishing a cycle
    cost). A device's history is written when a cycle does not read it successfully, or when
    the cycle's devices change."""

    def __init__(self) -> None:
        self.cycle: Cycle | None = None
        self.names: tuple[str, ...] = ()  # the cycle's devices, in its order
        self.index: dict[str, int] = {}  # device -> position in `names`
        self.unread: set[str] = set()  # devices not read successfully: failed, or not read
        self.unread_at: list[int] = []  # their positions, ascending

    def fresh(self, name: str) -> DeviceResult | None:
        """The device's result if the latest cycle read it successfully."""
        if self.cycle is None or name in self.unread:
            return None
        position = self.index.get(name)
        return None if position is None else self.cycle.devices[position]


@dataclass
class DeviceHistory:
    """What one device did over the daemon's life, beyond the latest cycle."""

    label: bytes  # `device="...",room="..."`: the device's name and configured labels, escaped
    errors: dict[str, int] = field(default_factory=dict)  # reason -> reads that failed so
    last_error: str | None = None  # "reason: detail" of the latest failed read
    last_error_at: float | None = None
    name: str = ""  # the device's name
    partial_reads: int = 0  # reads that ran out of time part-way (their values exported)
    # field -> reads that gave it no valid value, under `device` alone: the device's own
    # labels could hold a label named "field"
    invalid: dict[str, int] = field(default_factory=dict)
    # `read_duration` and `last_success` as of the latest cycle that did not read the device
    # successfully; while `latest` did, they are its own
    settled_read_duration: float | None = None
    settled_last_success: float | None = None
    latest: LatestCycle = field(default_factory=LatestCycle, repr=False, compare=False)
    # The error counter's sample lines, rendered when a count changes: they rarely do, and
    # every device has a few from the start.
    _error_lines: bytes | None = field(default=None, repr=False)

    @property
    def read_duration(self) -> float | None:
        """How long the latest read attempted took (reads skipped in backoff do not count)."""
        fresh = self.latest.fresh(self.name)
        return fresh.duration_s if fresh is not None else self.settled_read_duration

    @property
    def last_success(self) -> float | None:
        """When the latest successful read finished, wall clock, seconds since the epoch."""
        fresh = self.latest.fresh(self.name)
        if fresh is None or self.latest.cycle is None:
            return self.settled_last_success
        return self.latest.cycle.started + fresh.duration_s

    def settle(self, cycle: Cycle, result: DeviceResult) -> None:
        """Keep what a successful read in `cycle` says, for when later cycles do not read."""
        self.settled_read_duration = result.duration_s
        self.settled_last_success = cycle.started + result.duration_s

    def error_lines(self) -> bytes:
        if self._error_lines is None:
            prefix = b"\nsensorpoll_device_errors_total{" + self.label + b',reason="'
            self._error_lines = b"".join(
                prefix + escape_label_value(reason).encode() + b'"} ' + str(count).encode()
                for reason, count in sorted(self.errors.items())
            )
        return self._error_lines

    def count_error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        self._error_lines = None


def device_label(name: str, labels: dict[str, str]) -> bytes:
    return labels_text({"device": name, **labels}).encode()


@dataclass
class _Rendered:
    """Per-device text of one device order, for the families every device has."""

    names: tuple[str, ...]
    version: int  # `DaemonHistory.version` it was made at
    pasts: list[DeviceHistory]
    durations: list[bytes]  # b"\n<family>{labels} ", each device's line up to its value
    successes: list[bytes]
    up_lines: list[tuple[bytes, bytes]]  # each device's up line: (when 0, when 1)
    up: tuple[tuple[bool, ...], bytes] | None = None  # the latest up flags and their lines
    error_lines: list[bytes] | None = None  # each device's error counter lines
    errors: bytes | None = None  # all of them


class DaemonHistory:
    """Counters and the cycle-duration histogram, updated once per published cycle.

    Built from the config, so every device's error counter exists at 0 before its first
    error: for each reason its driver lists in `Driver.reasons` (other reasons appear with
    their first error).

    A cycle that reads every device successfully costs a few passes in C over its results;
    Python-level work is per device that failed, was not read or gave an invalid value."""

    def __init__(self, settings: Settings) -> None:
        self.devices: dict[str, DeviceHistory] = {}
        self.bucket_counts = [0] * (len(CYCLE_BUCKETS) + 1)  # per bucket, the last is +Inf
        self.duration_sum = 0.0
        self.cycles_observed = 0
        self.latest = LatestCycle()
        self.version = 0  # moves when a device's history is added, removed or relabelled
        self.errors_changed: set[str] = set()  # devices whose error counts changed since
        # the health lines were last rendered
        self.partial: set[str] = set()  # devices with partial reads counted
        self.with_invalid: set[str] = set()  # devices with invalid values counted
        self._rendered: _Rendered | None = None
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Take a (reloaded) config: devices removed from it are forgotten, so their series
        disappear; new ones start at 0; a device whose labels changed keeps its counts."""
        self._settle_latest()
        self.latest.cycle, self.latest.names = None, ()  # the next cycle checks every device
        self.version += 1
        wanted = {d.name for d in settings.devices}
        for name in [n for n in self.devices if n not in wanted]:
            del self.devices[name]
            self.partial.discard(name)
            self.with_invalid.discard(name)
        for device in settings.devices:
            label = device_label(device.name, device.labels)
            history = self.devices.get(device.name)
            if history is None:
                history = self._add(device.name, label)
            elif history.label != label:
                history.label, history._error_lines = label, None
            for reason in driver_class(device.driver).reasons_for(device):
                if reason not in history.errors:
                    history.errors[reason] = 0
                    history._error_lines = None

    def _add(self, name: str, label: bytes) -> DeviceHistory:
        self.version += 1
        history = self.devices[name] = DeviceHistory(label, name=name, latest=self.latest)
        return history

    def _history(self, name: str) -> DeviceHistory:
        history = self.devices.get(name)
        if history is None:  # not in the config this history was given
            history = self._add(name, device_label(name, {}))
        return history

    def _settle_latest(self) -> None:
        """Write the latest cycle's successful reads into the devices' histories."""
        latest = self.latest
        if latest.cycle is None:
            return
        for result in latest.cycle.devices:
            history = self.devices.get(result.device)
            if history is not None and result.device not in latest.unread:
                history.settle(latest.cycle, result)

    def observe(self, cycle: Cycle) -> None:
        results = cycle.devices
        latest = self.latest
        names = cycle.device_names
        if names == latest.names:
            previous = latest.cycle
        else:  # other devices, or another order: the previous cycle's reads are kept as such
            self._settle_latest()
            previous = None
            latest.names, latest.index = names, {name: i for i, name in enumerate(names)}
            for name in names:
                self._history(name)
        unread_at: list[int] = []
        ok = cycle.ok_flags
        if not (all(ok) and all(map(_ATTEMPTED, results))):
            read = map(operator.and_, ok, map(_ATTEMPTED, results))
            unread_at = list(compress(range(len(results)), map(operator.not_, read)))
        for position in unread_at:
            result = results[position]
            history = self.devices[result.device]
            if previous is not None and result.device not in latest.unread:
                history.settle(previous, previous.devices[position])
            if result.attempted:
                history.settled_read_duration = result.duration_s
            if result.ok or not result.attempted:
                continue  # values only carried, or in backoff: not read, so no new error
            reason = result.error or "unknown"
            history.count_error(reason)
            self.errors_changed.add(result.device)
            history.last_error = f"{reason}: {result.detail}" if result.detail else reason
            history.last_error_at = cycle.started + result.duration_s
            if result.partial:
                history.partial_reads += 1
                self.partial.add(result.device)
        if cycle.has_invalid:
            for result in compress(results, map(_INVALID, results)):
                history = self.devices[result.device]
                for name in result.invalid:
                    history.invalid[name] = history.invalid.get(name, 0) + 1
                self.with_invalid.add(result.device)
        latest.cycle, latest.unread_at = cycle, unread_at
        latest.unread = {results[position].device for position in unread_at}
        index = next(
            (i for i, bound in enumerate(CYCLE_BUCKETS) if cycle.duration_s <= bound),
            len(CYCLE_BUCKETS),
        )
        self.bucket_counts[index] += 1
        self.duration_sum += cycle.duration_s
        self.cycles_observed += 1

    def rendered(self) -> _Rendered:
        """The per-device text for the latest cycle's devices, remade when they change."""
        names = self.latest.names
        rendered = self._rendered
        if rendered is None or rendered.names is not names or rendered.version != self.version:
            pasts = [self.devices[name] for name in names]
            duration = b"\nsensorpoll_device_read_duration_seconds{"
            success = b"\nsensorpoll_device_last_success_timestamp_seconds{"
            up = b"\nsensorpoll_device_up{"
            rendered = self._rendered = _Rendered(
                names,
                self.version,
                pasts,
                [duration + past.label + b"} " for past in pasts],
                [success + past.label + b"} " for past in pasts],
                [(up + past.label + b"} 0", up + past.label + b"} 1") for past in pasts],
            )
        return rendered


def build_labels() -> dict[str, str]:
    """`sensorpoll_build_info`'s labels: what runs, for an upgrade seen in Prometheus."""
    try:
        pymodbus = version("pymodbus")
    except PackageNotFoundError:
        pymodbus = "none"
    return {"version": __version__, "pymodbus": pymodbus, "python": platform.python_version()}


def _family(name: str, kind: str, help_text: str, samples: bytes, om_name: str = "") -> FamilyText:
    help_text = escape_help(help_text)
    om_name = om_name or name
    text = f"# HELP {name} {help_text}\n# TYPE {name} {kind}"
    om = f"# HELP {om_name} {help_text}\n# TYPE {om_name} {kind}"
    if om_name.endswith("_seconds"):
        om += f"\n# UNIT {om_name} seconds"
    return FamilyText(text.encode(), om.encode(), samples)


def _counter(name: str, help_text: str, samples: bytes) -> FamilyText:
    # OpenMetrics names the counter family without `_total`; the samples keep it
    return _family(name, "counter", help_text, samples, om_name=name.removesuffix("_total"))


def _gauge_lines(name: str, series: list[tuple[bytes, float | int]]) -> bytes:
    """`name{labels} value` lines, each after a newline; values formatted in one batch."""
    if not series:
        return b""
    head = b"\n" + name.encode() + b"{"
    parts: list[bytes] = [b""] * (4 * len(series) + 1)
    parts[0:-1:4] = [head] * len(series)
    parts[1:-1:4] = [labels for labels, _ in series]
    parts[2:-1:4] = [b"} "] * len(series)
    parts[3:-1:4] = format_sample_values([value for _, value in series])
    parts[-1] = b"\n"
    return b"".join(parts)


def render_daemon_metrics(cycle: Cycle | None, history: DaemonHistory) -> list[FamilyText]:
    """Every device of the cycle; `history` must have observed it. Without a cycle (none has
    completed yet): the counters at 0 and the build, no device health."""
    index: dict[str, int] | None = None
    if cycle is not None and cycle is history.latest.cycle:
        up, durations, last_success, errors, pasts = _device_health(cycle, history)
        index = history.latest.index
    else:  # before the first cycle, or just after a reload: device by device
        if cycle is not None:
            pasts = [history.devices[result.device] for result in cycle.devices]
            up = _gauge_lines(
                "sensorpoll_device_up",
                [
                    (past.label, 1 if result.ok else 0)
                    for past, result in zip(pasts, cycle.devices, strict=True)
                ],
            )
        else:
            pasts, up = list(history.devices.values()), b""
        durations = _gauge_lines(
            "sensorpoll_device_read_duration_seconds",
            [(past.label, took) for past in pasts if (took := past.read_duration) is not None],
        )
        last_success = _gauge_lines(
            "sensorpoll_device_last_success_timestamp_seconds",
            [(past.label, when) for past in pasts if (when := past.last_success) is not None],
        )
        errors = b"".join([past.error_lines() for past in pasts])
    number = cycle.number if cycle is not None else 0
    overruns = cycle.overruns_total if cycle is not None else 0
    partial_reads: list[tuple[bytes, float | int]] = [
        (past.label, past.partial_reads) for past in _among(pasts, history.partial, index)
    ]
    invalid: list[tuple[bytes, float | int]] = [
        (device_label(past.name, {}) + f',field="{escape_label_value(name)}"'.encode(), count)
        for past in _among(pasts, history.with_invalid, index)
        for name, count in sorted(past.invalid.items())
    ]
    families = [
        _family(
            "sensorpoll_device_up",
            "gauge",
            "1 if the device's read in the latest cycle succeeded, 0 if not.",
            up,
        ),
        _family(
            "sensorpoll_device_read_duration_seconds",
            "gauge",
            "How long the device's latest read took (reads skipped during backoff do not count).",
            durations,
        ),
        _counter(
            "sensorpoll_device_errors_total",
            "Failed reads of the device, by short reason (timeout, connection, protocol, ...).",
            errors + b"\n" if errors else b"",
        ),
        _counter(
            "sensorpoll_device_partial_reads_total",
            "Reads that ran out of time part-way: the fields read are exported, the rest not.",
            _gauge_lines("sensorpoll_device_partial_reads_total", partial_reads),
        ),
        _counter(
            "sensorpoll_invalid_values_total",
            "Reads of a field that gave no valid value: a raw value listed in `invalid`, one "
            "outside `valid`, NaN or infinite.",
            _gauge_lines("sensorpoll_invalid_values_total", invalid),
        ),
        _family(
            "sensorpoll_device_last_success_timestamp_seconds",
            "gauge",
            "When the device's latest successful read finished, seconds since the epoch.",
            last_success,
        ),
        _counter(
            "sensorpoll_cycles_total",
            "Poll cycles completed since the daemon started.",
            f"\nsensorpoll_cycles_total {number}\n".encode(),
        ),
        _counter(
            "sensorpoll_cycle_overruns_total",
            "Cycles that ran past their slot on the grid, so that grid points were skipped.",
            f"\nsensorpoll_cycle_overruns_total {overruns}\n".encode(),
        ),
        _family(
            "sensorpoll_cycle_duration_seconds",
            "histogram",
            "How long each poll cycle took, from its start to the last device's answer.",
            _histogram_samples("sensorpoll_cycle_duration_seconds", history),
        ),
        BUILD_INFO,
    ]
    return [f for f in families if f.samples]


def _device_health(
    cycle: Cycle, history: DaemonHistory
) -> tuple[bytes, bytes, bytes, bytes, list[DeviceHistory]]:
    """Up, read duration, last success and error lines of the latest cycle's devices: from
    the cycle itself, but for those it did not read successfully. No Python-level work per
    device beyond joining, as long as every device reads: this runs every cycle."""
    rendered, latest = history.rendered(), history.latest
    results = cycle.devices
    up_flags = cycle.ok_flags
    if rendered.up is None or rendered.up[0] != up_flags:
        lines = list(map(operator.getitem, rendered.up_lines, up_flags))  # True picks 1
        rendered.up = (up_flags, b"".join(lines) + b"\n" if lines else b"")
    took: list[float | None] = list(map(_DURATION, results))
    started = cycle.started
    when: list[float | None] = list(map(started.__add__, cast("list[float]", took)))
    for position in latest.unread_at:
        past = rendered.pasts[position]
        took[position] = past.settled_read_duration
        when[position] = past.settled_last_success
    if rendered.error_lines is None:
        rendered.error_lines = [past.error_lines() for past in rendered.pasts]
        rendered.errors = None
    elif history.errors_changed:  # a few devices' counts: their lines alone are remade
        for name in history.errors_changed:
            if (at := latest.index.get(name)) is not None:
                rendered.error_lines[at] = rendered.pasts[at].error_lines()
        rendered.errors = None
    history.errors_changed.clear()
    if rendered.errors is None:
        rendered.errors = b"".join(rendered.error_lines)
    return (
        rendered.up[1],
        _lines(rendered.durations, took),
        _lines(rendered.successes, when),
        rendered.errors,
        rendered.pasts,
    )


def _lines(prefixes: list[bytes], values: list[float | None]) -> bytes:
    """Each prefix followed by its value, but where the value is None; one batch format."""
    if None in values:
        present = [value is not None for value in values]
        prefixes = list(compress(prefixes, present))
        values = list(compress(values, present))
    if not values:
        return b""
    parts: list[bytes] = [b""] * (2 * len(values) + 1)
    parts[0:-1:2] = prefixes
    parts[1:-1:2] = format_sample_values(cast("list[float | int | bool | str | None]", values))
    parts[-1] = b"\n"
    return b"".join(parts)


def _among(
    pasts: list[DeviceHistory], names: set[str], index: dict[str, int] | None
) -> list[DeviceHistory]:
    """Those of `pasts` named in `names` (few, usually none), in the order of `pasts`;
    `index`, if given, is each device's position in `pasts`."""
    if not names:
        return []
    if index is not None:
        return [pasts[i] for i in sorted(index[name] for name in names if name in index)]
    return [past for past in pasts if past.name in names]


def render_reload_metrics(last_reload: LastReload) -> list[FamilyText]:
    """Always both families, under Prometheus's own names for the same facts."""
    successful = "sensorpoll_config_last_reload_successful"
    timestamp = "sensorpoll_config_last_reload_success_timestamp_seconds"
    return [
        _family(
            successful,
            "gauge",
            "1 if the latest config load (the start or a reload) was applied, 0 if refused.",
            f"\n{successful} {int(last_reload.successful)}\n".encode(),
        ),
        _family(
            timestamp,
            "gauge",
            "When a config was last applied (the start or a reload), seconds since the epoch.",
            f"\n{timestamp} {format_sample_value(last_reload.success_timestamp)}\n".encode(),
        ),
    ]


def _histogram_samples(name: str, history: DaemonHistory) -> bytes:
    lines, cumulative = [], 0
    bounds = [*(format_sample_value(b) for b in CYCLE_BUCKETS), "+Inf"]
    for bound, count in zip(bounds, history.bucket_counts, strict=True):
        cumulative += count
        lines.append(f'\n{name}_bucket{{le="{bound}"}} {cumulative}')
    lines.append(f"\n{name}_sum {format_sample_value(history.duration_sum)}")
    lines.append(f"\n{name}_count {history.cycles_observed}\n")
    return "".join(lines).encode()


def _build_info() -> FamilyText:
    # text format: a gauge named *_info; OpenMetrics has a type for it (family without _info)
    help_text = "Always 1; the labels say which sensorpoll, pymodbus and Python are running."
    text = _family("sensorpoll_build_info", "gauge", help_text, b"")
    om = _family("sensorpoll_build", "info", help_text, b"")
    samples = f"\nsensorpoll_build_info{{{labels_text(build_labels())}}} 1\n".encode()
    return FamilyText(text.text_header, om.om_header, samples)


BUILD_INFO = _build_info()
