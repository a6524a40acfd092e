"""Rules over the whole validated config that no single model can check: deadlines and poll
rates against the interval, unique device names, devices sharing a line agreeing on it.

Run by the loader after every device validated; a later stage adds its own (`ExtraCheck`).
"""

from __future__ import annotations

from collections.abc import Iterator

from sensorpoll.config.errors import KeyPath
from sensorpoll.config.rates import rate_problems
from sensorpoll.config.schema import BusSpec, Settings


def cross_device_problems(settings: Settings) -> Iterator[tuple[KeyPath, str]]:
    """What is wrong between devices, or between a device and the top-level settings."""
    if settings.timeout is not None and settings.timeout >= settings.interval:
        yield (
            ("timeout",),
            f"must be shorter than the interval ({settings.timeout:g}s >= "
            f"{settings.interval:g}s): a cycle has to end before the next one starts",
        )
    yield from rate_problems(
        (
            (
                ("devices", i),
                device.interval,
                [
                    (("devices", i, "fields", j), interval)
                    for j, field in enumerate(device.fields)
                    if (interval := field.poll_interval) is not None
                ],
            )
            for i, device in enumerate(settings.devices)
        ),
        settings.interval,
    )
    names: dict[str, int] = {}
    buses: dict[str, tuple[int, BusSpec]] = {}
    addresses: dict[tuple[str, str], int] = {}
    for i, device in enumerate(settings.devices):
        if device.name in names:
            yield (
                ("devices", i, "name"),
                f"device name {device.name!r} is already used by devices[{names[device.name]}]",
            )
        names.setdefault(device.name, i)
        if device.timeout is not None and device.timeout >= settings.interval:
            yield (
                ("devices", i, "timeout"),
                f"must be shorter than the interval ({device.timeout:g}s >= "
                f"{settings.interval:g}s)",
            )
        for j, field in enumerate(device.fields):
            for key in field.labels.keys() & device.labels.keys():
                yield (
                    ("devices", i, "fields", j, "labels", key),
                    f"label {key!r} is also set on the device; set it in one place",
                )
        spec = device.bus()
        if spec is None:
            continue
        first = buses.get(spec.key)
        if first is None:
            buses[spec.key] = (i, spec)
        else:
            j, other = first
            if other.protocol != spec.protocol:
                yield (
                    ("devices", i),
                    f"{spec.key} is used as {spec.protocol} here but as {other.protocol} by "
                    f"devices[{j}] ({settings.devices[j].name}); one line speaks one protocol",
                )
            elif other.settings != spec.settings:
                diff = ", ".join(
                    f"{k}: {v!r} vs {dict(other.settings).get(k)!r}"
                    for k, v in spec.settings
                    if dict(other.settings).get(k) != v
                )
                yield (
                    ("devices", i),
                    f"line settings differ from devices[{j}] ({settings.devices[j].name}) "
                    f"on the same {spec.key}: {diff}",
                )
        if spec.address is not None:
            slot = (spec.key, spec.address)
            if slot in addresses:
                j = addresses[slot]
                yield (
                    ("devices", i),
                    f"address {spec.address} on {spec.key} is already used by devices[{j}] "
                    f"({settings.devices[j].name})",
                )
            addresses.setdefault(slot, i)
