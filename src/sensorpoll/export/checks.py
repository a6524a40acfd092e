"""Config rules that come from exposition: two fields must not make one metric family
with different units, kinds or label sets. Run by the loader as an extra check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sensorpoll.config.errors import KeyPath
from sensorpoll.config.loader import ExtraCheck
from sensorpoll.config.schema import DeviceConfig, FieldConfig, Settings

DAEMON_PREFIX = "sensorpoll_"
INFO_SUFFIX = "_info"
COUNTER_SUFFIX = "_total"


def metric_name(namespace: str, field: FieldConfig) -> str:
    """`<namespace>_<field>[_<unit>]`; the unit is not repeated if the name ends with it."""
    name = f"{namespace}_{field.name}"
    if field.unit and not name.endswith(f"_{field.unit}") and name != field.unit:
        name = f"{name}_{field.unit}"
    return name


def sample_name(namespace: str, field: FieldConfig) -> str:
    """The name a field's samples carry: string fields are info metrics, `<name>_info`;
    counters are `<name>_total`."""
    name = metric_name(namespace, field)
    if field.kind == "string":
        return name + INFO_SUFFIX
    if field.metric == "counter" and not name.endswith(COUNTER_SUFFIX):
        return name + COUNTER_SUFFIX
    return name


def export_kind(field: FieldConfig) -> str:
    """What a field is in the exposition: a number gauge, a counter, a bool, a string."""
    return "counter" if field.metric == "counter" else field.kind


def label_names(device: DeviceConfig, field: FieldConfig) -> tuple[str, ...]:
    """Every label a field's series has, sorted: what must agree across one family."""
    text_label = (field.name,) if field.kind == "string" else ()
    return tuple(sorted({"device", *device.labels, *field.labels, *text_label}))


@dataclass(frozen=True)
class _FirstField:
    """The field that first made a metric family: the one every later field must agree with."""

    device: int
    field: int
    unit: str | None
    kind: str
    labels: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"devices[{self.device}].fields[{self.field}]"


def _reserved_owner(namespace: str, name: str) -> str | None:
    """Whose metric `name` would be, if not a reading's: sensorpoll's, or prometheus_client's
    process and Python collectors'."""
    if namespace == "sensorpoll" and name.startswith(DAEMON_PREFIX):
        return "sensorpoll's own metrics"
    if namespace == "process":
        return "the process metrics (process_*)"
    if name == "python_info":
        return "the python_info metric"
    return None


def _counter_family_clashes(settings: Settings) -> Iterable[tuple[KeyPath, str]]:
    """A counter's OpenMetrics family is its name without `_total`: no other field's metric
    may have that name (a gauge `x` and a counter `x` would be two families `x`)."""
    namespace = settings.metrics.namespace
    samples = {
        sample_name(namespace, field): f"devices[{i}].fields[{j}]"
        for i, device in enumerate(settings.devices)
        for j, field in enumerate(device.fields)
    }
    for i, device in enumerate(settings.devices):
        for j, field in enumerate(device.fields):
            if field.metric != "counter":
                continue
            family = sample_name(namespace, field).removesuffix(COUNTER_SUFFIX)
            if family in samples:
                yield (
                    ("devices", i, "fields", j, "metric"),
                    f"counter {family} (samples {family}{COUNTER_SUFFIX}) would be a second "
                    f"metric family {family} beside the one of {samples[family]}; rename one",
                )


def _metric_clashes(settings: Settings) -> Iterable[tuple[KeyPath, str]]:
    yield from _counter_family_clashes(settings)
    seen: dict[str, _FirstField] = {}
    namespace = settings.metrics.namespace
    for i, device in enumerate(settings.devices):
        for j, field in enumerate(device.fields):
            here: KeyPath = ("devices", i, "fields", j)
            name = sample_name(namespace, field)
            labels = label_names(device, field)
            owner = _reserved_owner(namespace, name)
            if owner is not None:
                yield (
                    (*here, "name"),
                    f"metric {name} would collide with {owner}; "
                    f"set metrics.namespace to something other than {namespace!r}",
                )
            if field.kind == "string":
                yield from _text_label_clash(here, device, field)
            first = seen.setdefault(name, _FirstField(i, j, field.unit, export_kind(field), labels))
            if (first.device, first.field) == (i, j):
                continue
            if first.kind != export_kind(field):
                yield (
                    here,
                    f"metric {name} is a {export_kind(field)} here but a {first.kind} at "
                    f"{first.where}",
                )
            elif first.unit != field.unit:
                yield (
                    (*here, "unit"),
                    f"metric {name} has unit {field.unit or 'none'} here but "
                    f"{first.unit or 'none'} at {first.where}; one metric needs one unit",
                )
            elif first.labels != labels:
                yield (
                    here,
                    f"metric {name} has labels {list(labels)} here but "
                    f"{list(first.labels)} at {first.where}; one metric needs one label set",
                )
            elif first.device == i:
                yield (here, f"metric {name} is also made by {first.where}")


def _text_label_clash(
    here: KeyPath, device: DeviceConfig, field: FieldConfig
) -> Iterable[tuple[KeyPath, str]]:
    # A string field's text goes into a label named after the field.
    if field.name.startswith("__"):
        yield (
            (*here, "name"),
            f"string field {field.name!r} would name a label starting with '__', "
            "which Prometheus reserves",
        )
    elif field.name == "device" or field.name in device.labels or field.name in field.labels:
        yield (
            (*here, "name"),
            f"string field {field.name!r} puts its text in label {field.name!r}, "
            "which is already a label of this series; rename the field or the label",
        )


def metric_checks() -> list[ExtraCheck]:
    return [_metric_clashes]
