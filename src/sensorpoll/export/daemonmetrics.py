"""sensorpoll's own metrics: device health, errors by reason, cycles and their duration, build,
the outcome of the latest config reload.

Counters outlive a cycle, so `DaemonHistory` accumulates them as cycles are published; the
rendering is a function of that history and the latest cycle (or of the config alone, before
the first cycle has completed).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from sensorpoll import __version__
from sensorpoll.config.schema import Settings
from sensorpoll.daemon.cycle import Cycle
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


@dataclass
class DeviceHistory:
    """What one device did over the daemon's life, beyond the latest cycle."""

    label: bytes  # `device="...",room="..."`: the device's name and configured labels, escaped
    errors: dict[str, int] = field(default_factory=dict)  # reason -> reads that failed so
    read_duration: float | None = None  # of the latest read attempted (not skipped in backoff)
    last_success: float | None = None  # wall clock, seconds since the epoch
    last_error: str | None = None  # "reason: detail" of the latest failed read
    last_error_at: float | None = None
    name: str = ""  # the device's name
    partial_reads: int = 0  # reads that ran out of time part-way (their values exported)
    # field -> reads that gave it no valid value, under `device` alone: the device's own
    # labels could hold a label named "field"
    invalid: dict[str, int] = field(default_factory=dict)
    # The error counter's sample lines, rendered when a count changes: they rarely do, and
    # every device has a few from the start.
    _error_lines: bytes | None = field(default=None, repr=False)

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


class DaemonHistory:
    """Counters and the cycle-duration histogram, updated once per published cycle.

    Built from the config, so every device's error counter exists at 0 before its first
    error: for each reason its driver lists in `Driver.reasons` (other reasons appear with
    their first error)."""

    def __init__(self, settings: Settings) -> None:
        self.devices: dict[str, DeviceHistory] = {}
        self.bucket_counts = [0] * (len(CYCLE_BUCKETS) + 1)  # per bucket, the last is +Inf
        self.duration_sum = 0.0
        self.cycles_observed = 0
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Take a (reloaded) config: devices removed from it are forgotten, so their series
        disappear; new ones start at 0; a device whose labels changed keeps its counts."""
        wanted = {d.name for d in settings.devices}
        for name in [n for n in self.devices if n not in wanted]:
            del self.devices[name]
        for device in settings.devices:
            label = device_label(device.name, device.labels)
            history = self.devices.get(device.name)
            if history is None:
                history = self.devices[device.name] = DeviceHistory(label, name=device.name)
            elif history.label != label:
                history.label, history._error_lines = label, None
            for reason in driver_class(device.driver).reasons:
                if reason not in history.errors:
                    history.errors[reason] = 0
                    history._error_lines = None

    def observe(self, cycle: Cycle) -> None:
        for result in cycle.devices:
            history = self.devices.get(result.device)
            if history is None:  # not in the config this history was given
                history = self.devices[result.device] = DeviceHistory(
                    device_label(result.device, {}), name=result.device
                )
            finished = cycle.started + result.duration_s
            if result.attempted:
                history.read_duration = result.duration_s
            if result.ok:
                if result.attempted:  # not when its values were only carried
                    history.last_success = finished
            elif result.attempted:  # a device in backoff was not read: no new error
                reason = result.error or "unknown"
                history.count_error(reason)
                history.last_error = f"{reason}: {result.detail}" if result.detail else reason
                history.last_error_at = finished
                if result.partial:
                    history.partial_reads += 1
            for name in result.invalid:
                history.invalid[name] = history.invalid.get(name, 0) + 1
        index = next(
            (i for i, bound in enumerate(CYCLE_BUCKETS) if cycle.duration_s <= bound),
            len(CYCLE_BUCKETS),
        )
        self.bucket_counts[index] += 1
        self.duration_sum += cycle.duration_s
        self.cycles_observed += 1


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
    # comprehensions, not a loop with appends: this runs over every device every cycle
    if cycle is not None:
        pasts = [history.devices[result.device] for result in cycle.devices]
        up: list[tuple[bytes, float | int]] = [
            (past.label, 1 if result.ok else 0)
            for past, result in zip(pasts, cycle.devices, strict=True)
        ]
    else:
        pasts, up = list(history.devices.values()), []
    durations: list[tuple[bytes, float | int]] = [
        (past.label, took) for past in pasts if (took := past.read_duration) is not None
    ]
    last_success: list[tuple[bytes, float | int]] = [
        (past.label, when) for past in pasts if (when := past.last_success) is not None
    ]
    errors = b"".join([past.error_lines() for past in pasts])
    number = cycle.number if cycle is not None else 0
    overruns = cycle.overruns_total if cycle is not None else 0
    partial_reads: list[tuple[bytes, float | int]] = [
        (past.label, past.partial_reads) for past in pasts if past.partial_reads
    ]
    invalid: list[tuple[bytes, float | int]] = [
        (device_label(past.name, {}) + f',field="{escape_label_value(name)}"'.encode(), count)
        for past in pasts
        if past.invalid
        for name, count in sorted(past.invalid.items())
    ]
    families = [
        _family(
            "sensorpoll_device_up",
            "gauge",
            "1 if the device's read in the latest cycle succeeded, 0 if not.",
            _gauge_lines("sensorpoll_device_up", up),
        ),
        _family(
            "sensorpoll_device_read_duration_seconds",
            "gauge",
            "How long the device's latest read took (reads skipped during backoff do not count).",
            _gauge_lines("sensorpoll_device_read_duration_seconds", durations),
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
            _gauge_lines("sensorpoll_device_last_success_timestamp_seconds", last_success),
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
