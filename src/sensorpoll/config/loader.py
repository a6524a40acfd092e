"""Config file -> validated, frozen `Settings`, or a `ConfigError` listing every problem.

Each device section is validated by its driver's own model, so third-party drivers bring
their own schema; cross-device rules (unique names, shared buses, deadlines) are checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sensorpoll.config.errors import ConfigError, ConfigProblem
from sensorpoll.config.rates import rate_problems
from sensorpoll.config.schema import BusSpec, DeviceConfig, Settings
from sensorpoll.config.templates import Expansion, expand, located_problems
from sensorpoll.config.yamlmarks import Path_, YamlProblem, load_yaml

DriverModels = Callable[[str], type[DeviceConfig]]
"""Maps a `driver:` name to its config model; raises LookupError with a message if unknown."""

ExtraCheck = Callable[[Settings], Iterable[tuple[Path_, str]]]
"""A rule over the whole validated config, from a later stage (e.g. metric name clashes)."""


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(path: Sequence[str | int]) -> str:
    """`devices[2].fields[0].address`; an unusual key is quoted: `labels["room no"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            out += f"[{json.dumps(part)}]"  # escapes quotes, newlines, U+2028 ...
        else:
            out += f".{part}" if out else part
    return out


class _Problems:
    """Problems by field path; their lines are looked up once, when the error is raised."""

    def __init__(self, file: str, data: Any) -> None:
        self.file, self.data = file, data
        self.items: list[tuple[Path_, str]] = []

    @cached_property
    def keys(self) -> set[Path_]:
        """Paths of the keys the user wrote (see _is_tag); only built on the error path."""
        return _key_paths(self.data)

    def add(self, path: Path_, message: str) -> None:
        self.items.append((path, message))

    def error(self, lines: Mapping[Path_, int]) -> ConfigError:
        def line_of(path: Path_) -> int | None:
            for end in range(len(path), -1, -1):  # the nearest enclosing item with a line
                line = lines.get(tuple(path[:end]))
                if line is not None:
                    return line
            return None

        return ConfigError(
            [ConfigProblem(self.file, line_of(p), format_path(p), m) for p, m in self.items]
        )

    def _is_tag(self, parent: Path_, part: str) -> bool:
        if part == "[key]":
            return True
        if (*parent, part) in self.keys:  # a key the user wrote, whatever it looks like
            return False
        return "[" in part or "(" in part or part[:1].isupper()

    def add_validation(self, prefix: Path_, errors: Sequence[Any]) -> None:
        """Record pydantic's `errors()` items, located under `prefix`."""
        items = []
        for item in errors:
            loc = item["loc"]
            # pydantic names union branches and validators in the path ("function-after[...]",
            # "LatencyRange") and dict keys as "[key]": keep only the user's own keys
            path: Path_ = ()
            for part in loc:
                if isinstance(part, int) or not self._is_tag((*prefix, *path), part):
                    path = (*path, part)
            branch = len(path) != len(loc)
            items.append((path, branch, item))
        reported = {path for path, _, item in items if item["type"] != "too_short"}
        by_path: dict[Path_, list[tuple[bool, Any]]] = {}
        for path, branch, item in items:
            if item["type"] == "too_short" and any(
                len(p) > len(path) and p[: len(path)] == path for p in reported
            ):
                continue  # a sequence "too short" only because its invalid items were dropped
            by_path.setdefault(path, []).append((branch, item))
        for path, entries in by_path.items():
            if len(entries) > 1 and all(branch for branch, _ in entries):
                # one error per union branch: the branch of the wrong type says least
                specific = [e for e in entries if not e[1]["type"].endswith("_type")]
                entries = specific or entries
            for _, item in entries:
                self.add((*prefix, *path), _message(item))


def _message(item: Any) -> str:
    message = str(item["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if item["type"] == "extra_forbidden":
        message = "unknown key"
    return message


def load_settings(
    path: str | Path,
    driver_models: DriverModels,
    *,
    env: Mapping[str, str] | None = None,
    extra_checks: Sequence[ExtraCheck] = (),
) -> Settings:
    """Read and validate the config file at `path`."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, None, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigProblem(name, None, "", "is a directory, not a file")]) from None
    except PermissionError:
        raise ConfigError([ConfigProblem(name, None, "", "permission denied")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(name, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(name, None, "", exc.strerror or str(exc))]) from None
    return parse_settings(text, name, driver_models, env=env, extra_checks=extra_checks)


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
    problems = _Problems(file, expansion.data)
    settings = _validate(expansion.data, driver_models, extra_checks, problems, expansion.broken)
    if problems.items or expansion or settings is None:
        raise _error(text, file, env, problems, expansion)
    return settings


def _read_included(
    path: Path, env: Mapping[str, str] | None, *, lines: bool
) -> tuple[Any, dict[Path_, int]]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(name, None, "", exc.strerror or str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(name, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    return read_yaml(text, name, env, lines=lines)


def _error(
    text: str,
    file: str,
    env: Mapping[str, str] | None,
    problems: _Problems,
    expansion: Expansion,
) -> ConfigError:
    """Every problem at its file and line; the files are parsed again, with line marks."""
    lines = {file: read_yaml(text, file, env, lines=True)[1]}

    def lines_of(name: str) -> Mapping[Path_, int]:
        if name not in lines:
            try:
                lines[name] = _read_included(Path(name), env, lines=True)[1]
            except ConfigError:  # reported already, where it was read
                lines[name] = {}
        return lines[name]

    located = located_problems(expansion, problems.items, lines_of, format_path)
    return ConfigError(located, files=(file, *expansion.included))


def _key_paths(data: Any, prefix: Path_ = ()) -> set[Path_]:
    paths: set[Path_] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            paths.add((*prefix, key))
            paths |= _key_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            paths |= _key_paths(value, (*prefix, i))
    return paths


def read_yaml(
    text: str, file: str, env: Mapping[str, str] | None, *, lines: bool
) -> tuple[Any, dict[Path_, int]]:
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
    extra_checks: Sequence[ExtraCheck],
    problems: _Problems,
    broken: set[int] = frozenset(),  # type: ignore[assignment]
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
    _check_cross_device(settings, problems)
    for check in extra_checks:
        for path, message in check(settings):
            problems.add(path, message)
    return settings


def _validate_devices(
    raw: Any, driver_models: DriverModels, problems: _Problems, broken: set[int]
) -> list[DeviceConfig] | None:
    """Each device by its driver's model; None when any of them is invalid. Devices in
    `broken` (their template is unknown: reported already) are not validated."""
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
        where: Path_ = ("devices", i)
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


def _check_cross_device(settings: Settings, problems: _Problems) -> None:
    if settings.timeout is not None and settings.timeout >= settings.interval:
        problems.add(
            ("timeout",),
            f"must be shorter than the interval ({settings.timeout:g}s >= "
            f"{settings.interval:g}s): a cycle has to end before the next one starts",
        )
    for path, message in rate_problems(
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
    ):
        problems.add(path, message)
    names: dict[str, int] = {}
    buses: dict[str, tuple[int, BusSpec]] = {}
    addresses: dict[tuple[str, str], int] = {}
    for i, device in enumerate(settings.devices):
        if device.name in names:
            problems.add(
                ("devices", i, "name"),
                f"device name {device.name!r} is already used by devices[{names[device.name]}]",
            )
        names.setdefault(device.name, i)
        if device.timeout is not None and device.timeout >= settings.interval:
            problems.add(
                ("devices", i, "timeout"),
                f"must be shorter than the interval ({device.timeout:g}s >= "
                f"{settings.interval:g}s)",
            )
        for j, field in enumerate(device.fields):
            for key in field.labels.keys() & device.labels.keys():
                problems.add(
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
                problems.add(
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
                problems.add(
                    ("devices", i),
                    f"line settings differ from devices[{j}] ({settings.devices[j].name}) "
                    f"on the same {spec.key}: {diff}",
                )
        if spec.address is not None:
            slot = (spec.key, spec.address)
            if slot in addresses:
                j = addresses[slot]
                problems.add(
                    ("devices", i),
                    f"address {spec.address} on {spec.key} is already used by devices[{j}] "
                    f"({settings.devices[j].name})",
                )
            addresses.setdefault(slot, i)
