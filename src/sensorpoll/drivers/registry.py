"""Which class implements each `driver:` name: built-ins first, then the entry-point group.

Built-ins are declared in pyproject's `sensorpoll.drivers` group too; an entry point may add
a driver but never replace a built-in one (fsspec's registry, with that one change).
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from sensorpoll.config.schema import DeviceConfig
from sensorpoll.drivers.base import Driver

log = logging.getLogger(__name__)

GROUP = "sensorpoll.drivers"

BUILTIN: dict[str, str] = {
    "simulated": "sensorpoll.drivers.simulated:SimulatedDriver",
    "modbus": "sensorpoll.drivers.modbus:ModbusDriver",
    "serial": "sensorpoll.drivers.serial:SerialDriver",
}


class DriverNotFound(LookupError):
    pass


@cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        builtin = BUILTIN.get(ep.name)
        if builtin is not None:
            if ep.value != builtin:
                log.warning(
                    "ignoring entry point %s = %s: it would shadow the built-in driver %r",
                    ep.name,
                    ep.value,
                    ep.name,
                )
            continue
        found[ep.name] = ep
    return found


def rescan() -> None:
    """Forget the drivers found so far: entry points are read once per process, so a package
    installed (or put on sys.path) since is only seen after this."""
    _entry_points.cache_clear()
    driver_class.cache_clear()


def names() -> list[str]:
    """Every driver name: built-ins, then third-party ones."""
    return [*BUILTIN, *sorted(n for n in _entry_points() if n not in BUILTIN)]


@cache
def driver_class(name: str) -> type[Driver[DeviceConfig]]:
    """The driver class for `driver: name`; DriverNotFound names the known ones."""
    target = BUILTIN.get(name)
    try:
        if target is not None:
            module, _, attr = target.partition(":")
            loaded = getattr(importlib.import_module(module), attr)
        elif name in _entry_points():
            loaded = _entry_points()[name].load()
        else:
            raise DriverNotFound(f"unknown driver {name!r}; available: {', '.join(names())}")
    except DriverNotFound:
        raise
    except Exception as exc:  # a broken plugin must not take the whole config down silently
        raise DriverNotFound(f"driver {name!r} could not be loaded: {exc}") from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Driver)):
        raise DriverNotFound(f"driver {name!r} ({target or 'entry point'}) is not a Driver class")
    return loaded


def config_model(name: str) -> type[DeviceConfig]:
    """The config model that validates a `driver: name` device section."""
    return driver_class(name).config_model


def config_models() -> list[type[DeviceConfig]]:
    """The config model of every driver that loads; one that does not is logged and left out
    (`sensorpoll schema` still describes the others)."""
    models = []
    for name in names():
        try:
            models.append(config_model(name))
        except LookupError as exc:
            log.warning("%s", exc)
    return models
