"""Config rules that come from exposition: two fields must not make one metric family
with different units, kinds or label sets. Run by the loader as an extra check."""

from __future__ import annotations

from collections.abc import Iterable

from sensorpoll.config.loader import ExtraCheck
from sensorpoll.config.schema import DeviceConfig, FieldConfig, Settings
from sensorpoll.config.yamlmarks import Path_

DAEMON_PREFIX = "sensorpoll_"


def metric_name(namespace: str, field: FieldConfig) -> str:
    """`<namespace>_<field>[_<unit>]`; the unit is not repeated if the name ends with it."""
    name = f"{namespace}_{field.name}"
    if field.unit and not name.endswith(f"_{field.unit}") and name != field.unit:
        name = f"{name}_{field.unit}"
    return name


def label_names(device: DeviceConfig, field: FieldConfig) -> tuple[str, ...]:
    return tuple(sorted({"device", *device.labels, *field.labels}))


def _metric_clashes(settings: Settings) -> Iterable[tuple[Path_, str]]:
    seen: dict[str, tuple[int, int, str, tuple[str, ...]]] = {}
    namespace = settings.metrics.namespace
    for i, device in enumerate(settings.devices):
        for j, field in enumerate(device.fields):
            name = metric_name(namespace, field)
            here = (i, j, field.kind, label_names(device, field))
            if name.startswith(DAEMON_PREFIX) and namespace == "sensorpoll":
                yield (
                    ("devices", i, "fields", j, "name"),
                    f"metric {name} would collide with sensorpoll's own metrics; "
                    "set metrics.namespace to something other than 'sensorpoll'",
                )
            first = seen.setdefault(name, here)
            if first is here:
                continue
            fi, fj, kind, labels = first
            where = f"devices[{fi}].fields[{fj}]"
            if kind != field.kind:
                yield (
                    ("devices", i, "fields", j),
                    f"metric {name} is a {field.kind} here but a {kind} at {where}",
                )
            elif labels != label_names(device, field):
                yield (
                    ("devices", i, "fields", j),
                    f"metric {name} has labels {list(label_names(device, field))} here but "
                    f"{list(labels)} at {where}; one metric needs one label set",
                )


def metric_checks() -> list[ExtraCheck]:
    return [_metric_clashes]
