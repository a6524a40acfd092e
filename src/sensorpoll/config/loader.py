"""Config file -> validated, frozen `Settings`, or a `ConfigError` listing every problem.

Reads the file, parses it (`yamlmarks`) and validates each device section with its driver's
own model, so third-party drivers bring their own schema; the problems are collected and
worded by `problems`, the rules across devices live in `rules`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sensorpoll.config.errors import ConfigError, ConfigProblem, KeyPath
from sensorpoll.config.problems import Problems, format_path, line_of
from sensorpoll.config.rules import cross_device_problems
from sensorpoll.config.schema import DeviceConfig, Settings
from sensorpoll.config.templates import Expansion, expand, located_problems
from sensorpoll.config.yamlmarks import YamlProblem, load_yaml

DriverModels = Callable[[str], type[DeviceConfig]]
"""Maps a `driver:` name to its config model; raises LookupError with a message if unknown."""

ExtraCheck = Callable[[Settings], Iterable[tuple[KeyPath, str]]]
"""A rule over the whole validated config, from a later stage (e.g. metric name clashes)."""


MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a 1,000-device file is ~200 KB: this is no config


def read_config_text(path: str | Path) -> str:
    """The text of a config file; a file that cannot be read is a ConfigError saying why."""
    text, _ = _read(path)
    return text


def _read(path: str | Path) -> tuple[str, os.stat_result | None]:
    """The text, and the file's identity as it was read (None for a pipe or device)."""
    name = str(path)

    def problem(message: str) -> ConfigError:
        return ConfigError([ConfigProblem(name, None, "", message)])

    try:
        with open(path, "rb") as file:
            identity = os.fstat(file.fileno())
            data = file.read(MAX_CONFIG_BYTES + 1)  # bounded: /dev/zero is a "file" too
        if len(data) > MAX_CONFIG_BYTES:
            raise problem(f"larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB: not a config")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise problem("no such file") from None
    except IsADirectoryError:
        raise problem("is a directory, not a file") from None
    except PermissionError:
        raise problem("permission denied") from None
    except UnicodeDecodeError as exc:
        raise problem(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise problem(exc.strerror or str(exc)) from None
    return text, identity if stat.S_ISREG(identity.st_mode) else None


def _unchanged(path: str | Path, read: os.stat_result | None) -> None:
    """Raise a ConfigError if the file at `path` is no longer the one that was read: a file
    caught mid-write can be valid YAML with fewer devices, and must not be applied."""
    if read is None:
        return
    try:
        now = os.stat(path)
    except OSError:
        now = None
    same = now is not None and all(
        getattr(now, key) == getattr(read, key)
        for key in ("st_dev", "st_ino", "st_size", "st_mtime_ns")
    )
    if not same:
        message = (
            "changed while it was read; write the new file next to it and rename it into "
            "place (docs/deploy.md)"
        )
        raise ConfigError([ConfigProblem(str(path), None, "", message)])


def load_settings(
    path: str | Path,
    driver_models: DriverModels,
    *,
    env: Mapping[str, str] | None = None,
    extra_checks: Sequence[ExtraCheck] = (),
) -> Settings:
    """Read and validate the config file at `path`."""
    text, identity = _read(path)
    settings = parse_settings(text, str(path), driver_models, env=env, extra_checks=extra_checks)
    _unchanged(path, identity)
    return settings


def parse_settings(
    text: str,
    file: str,
    driver_models: DriverModels,
    *,
    env: Mapping[str, str] | None = None,
    extra_checks: Sequence[ExtraCheck] = (),
) -> Settings:
    """Validate config `text`; `file` names it in error messages.

    Lines are only looked up when something is wrong: the file is then parsed a second time
    with line marks (keeping them for a valid 1,000-device file would cost ~15 MB).
    """
    data, _ = read_yaml(text, file, env, lines=False)
    expansion = expand(data, file, lambda path: _read_included(path, env, lines=False)[0])
    problems = Problems(file, expansion.data)
    checks = (cross_device_problems, *extra_checks)
    settings = _validate(expansion.data, driver_models, checks, problems, expansion.broken)
    if problems or expansion or settings is None:
        raise _error(text, file, env, problems, expansion)
    return settings


def _read_included(
    path: Path, env: Mapping[str, str] | None, *, lines: bool
) -> tuple[Any, dict[KeyPath, int]]:
    """An included file, parsed (templates are read on every load, so a reload rereads it)."""
    return read_yaml(read_config_text(path), str(path), env, lines=lines)


def _error(
    text: str,
    file: str,
    env: Mapping[str, str] | None,
    problems: Problems,
    expansion: Expansion,
) -> ConfigError:
    """Every problem at its file and line; the files are parsed again, with line marks."""
    lines = {file: read_yaml(text, file, env, lines=True)[1]}

    def lines_of(name: str) -> Mapping[KeyPath, int]:
        if name not in lines:
            try:
                lines[name] = _read_included(Path(name), env, lines=True)[1]
            except ConfigError:  # reported already, where it was read
                lines[name] = {}
        return lines[name]

    located = located_problems(expansion, problems.items, lines_of, format_path, line_of)
    return ConfigError(located, files=(file, *expansion.included))


def read_yaml(
    text: str, file: str, env: Mapping[str, str] | None, *, lines: bool
) -> tuple[Any, dict[KeyPath, int]]:
    """`load_yaml`, its problems raised as one ConfigError naming `file`."""
    try:
        return load_yaml(text, env, lines=lines)
    except YamlProblem as exc:
        problem = ConfigProblem(file, exc.line, format_path(exc.path), exc.message)
        raise ConfigError([problem]) from None
    except ExceptionGroup as group:
        raise ConfigError(
            [
                ConfigProblem(file, p.line, format_path(p.path), p.message)
                for p in group.exceptions
                if isinstance(p, YamlProblem)
            ]
        ) from None


def _validate(
    data: Any,
    driver_models: DriverModels,
    checks: Sequence[ExtraCheck],
    problems: Problems,
    broken: Set[int] = frozenset(),
) -> Settings | None:
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        problems.add(
            (), f"the config must be a mapping of keys (interval, devices, ...), not {kind}"
        )
        return None
    devices = _validate_devices(data.get("devices"), driver_models, problems, broken)
    try:
        settings = Settings.model_validate({**data, "devices": devices or [None]})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if devices is None:  # already reported; don't repeat it as a type error
            errors = [e for e in errors if e["loc"][:1] != ("devices",)]
        problems.add_validation((), errors)
        return None
    if devices is None:
        return None
    for check in checks:
        for path, message in check(settings):
            problems.add(path, message)
    return settings


def _validate_devices(
    raw: Any, driver_models: DriverModels, problems: Problems, broken: Set[int]
) -> list[DeviceConfig] | None:
    """Each device by its driver's model; None when any of them is invalid. Devices in
    `broken` (naming an unknown template: reported already) are not validated."""
    if raw is None:
        problems.add(("devices",), "at least one device is required")
        return None
    if not isinstance(raw, list):
        problems.add(("devices",), "must be a list of devices")
        return None
    if not raw:
        problems.add(("devices",), "at least one device is required")
        return None
    devices: list[DeviceConfig] = []
    ok = True
    for i, item in enumerate(raw):
        where: KeyPath = ("devices", i)
        if i in broken:
            ok = False
            continue
        if not isinstance(item, dict):
            problems.add(where, "a device must be a mapping with name, driver and fields")
            ok = False
            continue
        driver = item.get("driver")
        if not isinstance(driver, str):
            problems.add(where, "every device needs `driver:` (e.g. simulated, modbus, serial)")
            ok = False
            continue
        try:
            model = driver_models(driver)
        except LookupError as exc:
            problems.add((*where, "driver"), str(exc.args[0]) if exc.args else str(exc))
            ok = False
            continue
        try:
            devices.append(model.model_validate(item))
        except ValidationError as exc:
            problems.add_validation(where, exc.errors(include_url=False))
            ok = False
    return devices if ok else None
