"""Reading gauges: each configured field as `<namespace>_<field>[_<unit>]`, one series a device.

Everything that depends only on the config (names, label text, HELP) is prepared once in a
`ReadingPlan`; rendering a cycle then only formats values, which keeps 10,000 series in ms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sensorpoll.config.schema import FieldConfig, Settings, ValueKind
from sensorpoll.daemon.cycle import DeviceResult
from sensorpoll.export.checks import metric_name, sample_name
from sensorpoll.export.textformat import escape_help, escape_label_value, format_value, labels_text


@dataclass(frozen=True, slots=True)
class FamilyText:
    """One metric family rendered: headers for each format, and the sample lines both share."""

    text_header: str
    om_header: str
    samples: str


@dataclass(frozen=True, slots=True)
class _Series:
    device: str
    field: str
    prefix: str  # the sample line up to its value: `name{labels} `, or up to the text label


@dataclass(frozen=True, slots=True)
class _Family:
    kind: ValueKind
    text_header: str
    om_header: str
    series: tuple[_Series, ...]


def _help(field: FieldConfig) -> str:
    if field.kind == "string":
        return f"Text reading {field.name}, in label {field.name}; the value is always 1."
    if field.kind == "bool":
        return f"Reading {field.name} of each device, 1 when true, 0 when false."
    unit = f", in {field.unit}" if field.unit else ""
    return f"Reading {field.name} of each device{unit}."


def _family_headers(settings: Settings, field: FieldConfig) -> tuple[str, str]:
    name, samples = (
        metric_name(settings.metrics.namespace, field),
        sample_name(settings.metrics.namespace, field),
    )
    help_text = escape_help(_help(field))
    text = f"# HELP {samples} {help_text}\n# TYPE {samples} gauge\n"
    if field.kind == "string":  # OpenMetrics has a type for it: family `name`, sample `name_info`
        return text, f"# HELP {name} {help_text}\n# TYPE {name} info\n"
    return text, text


class ReadingPlan:
    """The reading families of one config, in first-seen order, with their series' label text."""

    def __init__(self, settings: Settings) -> None:
        families: dict[str, tuple[ValueKind, str, str, list[_Series]]] = {}
        namespace = settings.metrics.namespace
        for device in settings.devices:
            for field in device.fields:
                samples = sample_name(namespace, field)
                if samples not in families:
                    families[samples] = (field.kind, *_family_headers(settings, field), [])
                labels = labels_text({"device": device.name, **device.labels, **field.labels})
                if field.kind == "string":
                    prefix = f'{samples}{{{labels},{field.name}="'
                else:
                    prefix = f"{samples}{{{labels}}} "
                families[samples][3].append(_Series(device.name, field.name, prefix))
        self._families = tuple(
            _Family(kind, text, om, tuple(series)) for kind, text, om, series in families.values()
        )

    def render(self, results: Mapping[str, DeviceResult]) -> list[FamilyText]:
        """The families of the devices that read successfully; a failed device has no series,
        so its readings go stale in Prometheus instead of repeating an old value."""
        out: list[FamilyText] = []
        fmt = format_value
        for family in self._families:
            lines: list[str] = []
            append = lines.append
            string = family.kind == "string"
            for series in family.series:
                result = results.get(series.device)
                if result is None or not result.ok:
                    continue
                value = result.values.get(series.field)
                if value is None:
                    continue
                if string:
                    append(f'{series.prefix}{escape_label_value(str(value))}"}} 1\n')
                elif value.__class__ is float and value - value == 0:  # finite: no call needed
                    append(series.prefix + repr(value) + "\n")
                else:
                    append(series.prefix + fmt(value) + "\n")
            if lines:
                out.append(FamilyText(family.text_header, family.om_header, "".join(lines)))
        return out
